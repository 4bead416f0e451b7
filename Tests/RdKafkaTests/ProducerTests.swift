import Logging
import NIOCore
import RdKafka
import RdKafkaTestKit
import ServiceLifecycle
import Testing

@Suite("KafkaProducer", .timeLimit(.minutes(3)))
struct ProducerTests {
    @Test("round trip keeps key, value and headers")
    func roundTrip() async throws {
        let kafka = try KafkaTestEnvironment()
        let topic = try await kafka.makeTopic()
        let producer = try KafkaProducer(configuration: kafka.producerConfiguration(), logger: kafka.logger)
        let consumer = try KafkaConsumer(configuration: kafka.consumerConfiguration(topics: [topic]), logger: kafka.logger)
        let headers = [
            KafkaHeader(key: "ce_type", value: "redress.complaint.received.v1"),
            KafkaHeader(key: "hotelid", value: "SHA-PUDONG"),
            KafkaHeader(key: "empty", value: nil as ByteBuffer?),
        ]
        let sent = KafkaProducerMessage(topic: topic, key: "complaint-42", value: #"{"text":"空调坏了 / AC broken"}"#, headers: headers)

        let received = try await withRunningServices([producer, consumer]) {
            let report = try await producer.sendAndAwait(sent)
            guard case .acknowledged(_, let offset) = report.status else {
                Issue.record("not acknowledged: \(report)")
                return [KafkaConsumerMessage]()
            }
            #expect(offset.rawValue >= 0)
            return try await consumer.collect(1)
        }
        let message = try #require(received.first)
        #expect(message.topic == topic)
        #expect(message.keyString == "complaint-42")
        #expect(message.valueString == #"{"text":"空调坏了 / AC broken"}"#)
        #expect(message.headers == headers)
        #expect(message.timestampMilliseconds != nil)
    }

    @Test("10,000 messages sent with sendAndAwait are each acknowledged exactly once")
    func tenThousandAcknowledged() async throws {
        let kafka = try KafkaTestEnvironment()
        let topic = try await kafka.makeTopic(partitions: 3)
        let producer = try KafkaProducer(configuration: kafka.producerConfiguration(), logger: kafka.logger)
        let count = 10_000

        let reports = try await withRunningServices([producer]) {
            try await withThrowingTaskGroup(of: KafkaDeliveryReport.self) { group in
                for index in 0..<count {
                    group.addTask {
                        try await producer.sendAndAwait(KafkaProducerMessage(topic: topic, key: "key-\(index % 97)", value: "message \(index)"))
                    }
                }
                var reports: [KafkaDeliveryReport] = []
                for try await report in group { reports.append(report) }
                return reports
            }
        }
        #expect(reports.count == count)
        #expect(Set(reports.map(\.id)).count == count)
        var positions = Set<String>()
        for report in reports {
            guard case .acknowledged(let partition, let offset) = report.status else {
                Issue.record("failed delivery: \(report)")
                continue
            }
            positions.insert("\(partition)/\(offset)")
        }
        #expect(positions.count == count, "every message has its own partition/offset")
        #expect(producer.deliveredMessageCount == count)
        #expect(producer.failedMessageCount == 0)
    }

    @Test("graceful shutdown flushes messages that were only enqueued")
    func shutdownFlushes() async throws {
        let kafka = try KafkaTestEnvironment()
        let topic = try await kafka.makeTopic(partitions: 2)
        var configuration = kafka.producerConfiguration()
        configuration.linger = .milliseconds(200)  // keep messages queued when shutdown begins
        let producer = try KafkaProducer(configuration: configuration, logger: kafka.logger)
        let count = 2_000
        try await withRunningServices([producer]) {
            for index in 0..<count {
                try producer.send(KafkaProducerMessage(topic: topic, key: nil, value: "pending \(index)"))
            }
        }
        #expect(producer.deliveredMessageCount == count)
        #expect(producer.outstandingMessageCount == 0)

        let consumer = try KafkaConsumer(configuration: kafka.consumerConfiguration(topics: [topic]), logger: kafka.logger)
        let received = try await withRunningServices([consumer]) { try await consumer.collect(count) }
        #expect(Set(received.map(\.valueString)).count == count)
    }

    @Test("sending after shutdown fails with .shutdown, never silently")
    func sendAfterShutdown() async throws {
        let kafka = try KafkaTestEnvironment()
        let topic = try await kafka.makeTopic()
        let producer = try KafkaProducer(configuration: kafka.producerConfiguration(), logger: kafka.logger)
        try await withRunningServices([producer]) {}
        #expect(throws: KafkaError.self) { try producer.send(KafkaProducerMessage(topic: topic, key: nil, value: "late")) }
        await #expect(throws: KafkaError.self) { try await producer.sendAndAwait(KafkaProducerMessage(topic: topic, key: nil, value: "late")) }
    }

    @Test("a cancelled sendAndAwait returns CancellationError and leaves the producer usable")
    func cancellation() async throws {
        let kafka = try KafkaTestEnvironment()
        let topic = try await kafka.makeTopic()
        var configuration = kafka.producerConfiguration()
        configuration.linger = .seconds(2)  // the first message waits long enough to be cancelled
        let producer = try KafkaProducer(configuration: configuration, logger: kafka.logger)
        try await withRunningServices([producer]) {
            let task = Task { try await producer.sendAndAwait(KafkaProducerMessage(topic: topic, key: nil, value: "cancel me")) }
            try await Task.sleep(for: .milliseconds(100))
            task.cancel()
            await #expect(throws: CancellationError.self) { try await task.value }
            let report = try await producer.sendAndAwait(KafkaProducerMessage(topic: topic, key: nil, value: "still works"))
            guard case .acknowledged = report.status else {
                Issue.record("expected acknowledgement, got \(report)")
                return
            }
        }
        // The cancelled message itself was still delivered: cancelling only stops the waiting.
        #expect(producer.deliveredMessageCount == 2)
    }

    /// librdkafka reports a full local queue through an `rd_kafka_error_t`, which was mapped to a
    /// non-retriable delivery failure: `sendAndAwait`'s wait for room never happened, and the outbox
    /// relay failed whole rounds during an outage instead of waiting.
    @Test("a full local queue is .queueFull and retriable; sendAndAwait waits for room instead of failing")
    func queueFull() async throws {
        var configuration = KafkaProducerConfiguration(bootstrapServers: ["127.0.0.1:1"])  // nobody there
        configuration.additionalProperties["queue.buffering.max.messages"] = "1"
        configuration.messageTimeout = .milliseconds(500)
        let producer = try KafkaProducer(configuration: configuration, logger: .kafkaTest)
        try await withRunningServices([producer]) {
            try producer.send(KafkaProducerMessage(topic: "queue-full", key: nil, value: "fills the queue"))
            #expect {
                try producer.send(KafkaProducerMessage(topic: "queue-full", key: nil, value: "no room"))
            } throws: { error in
                guard let error = error as? KafkaError else { return false }
                return error.code == .queueFull && error.isRetriable
            }
            // The first message times out (no broker), which makes room: this one is queued, then fails
            // delivery itself — a delivery failure, not a queue-full error.
            await #expect {
                _ = try await producer.sendAndAwait(KafkaProducerMessage(topic: "queue-full", key: nil, value: "waits for room"))
            } throws: { error in
                (error as? KafkaError)?.code == .messageDelivery
            }
        }
    }

    /// A `sendAndAwait` waiting for room in a full queue when shutdown began went on trying: once the
    /// shutdown's purge made room, its message was handed to librdkafka after the last delivery reports
    /// had been served, so it stayed outstanding, unreported, in a producer nobody polled any more.
    @Test("a sendAndAwait waiting for queue room at shutdown gives up without producing")
    func queueFullAtShutdown() async throws {
        var configuration = KafkaProducerConfiguration(bootstrapServers: ["127.0.0.1:1"])  // nobody there
        configuration.additionalProperties["queue.buffering.max.messages"] = "1"
        configuration.messageTimeout = .seconds(60)
        configuration.shutdownFlushTimeout = .milliseconds(200)
        let producer = try KafkaProducer(configuration: configuration, logger: .kafkaTest)
        let waiting = try await withRunningServices([producer]) {
            try producer.send(KafkaProducerMessage(topic: "queue-full-shutdown", key: nil, value: "fills the queue"))
            // Waits for room until the shutdown, which begins when this body returns.
            let waiting = Task { try await producer.sendAndAwait(KafkaProducerMessage(topic: "queue-full-shutdown", key: nil, value: "waits for room")) }
            let deadline = ContinuousClock.now + .seconds(10)
            while producer.queueFullWaitCount == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
            #expect(producer.queueFullWaitCount > 0, "the second message never waited for room")
            return waiting
        }
        await #expect {
            _ = try await waiting.value
        } throws: { error in
            (error as? KafkaError)?.code == .shutdown
        }
        #expect(producer.outstandingMessageCount == 0)
    }

    /// Says when the group started its services, then waits for the shutdown.
    struct Started: Service {
        let signal: AsyncStream<Void>.Continuation
        func run() async throws {
            signal.yield()
            try? await gracefulShutdown()
        }
    }

    /// A stage's service group cancels what is still running once its graceful-shutdown budget
    /// (`SHUTDOWN_TIMEOUT_SECONDS`) ran out; a producer with messages for a broker that is away then
    /// went on flushing for its whole `shutdownFlushTimeout` and waited 5 s more for the purge, taking
    /// the process past its kill.
    @Test("a producer cancelled while flushing for an absent broker purges at once")
    func cancelledFlushPurgesAtOnce() async throws {
        var configuration = KafkaProducerConfiguration(bootstrapServers: ["127.0.0.1:1"])  // nobody there
        configuration.messageTimeout = .seconds(120)
        configuration.shutdownFlushTimeout = .seconds(20)
        let producer = try KafkaProducer(configuration: configuration, logger: .kafkaTest)
        let (ready, starting) = AsyncStream<Void>.makeStream()
        var groupConfiguration = ServiceGroupConfiguration(services: [producer, Started(signal: starting)], logger: .kafkaTest)
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(1)
        let group = ServiceGroup(configuration: groupConfiguration)
        let running = Task { try await group.run() }
        for await _ in ready { break }
        _ = try producer.send(KafkaProducerMessage(topic: "cancelled-flush", key: nil, value: "never delivered"))
        #expect(producer.outstandingMessageCount > 0)
        let started = ContinuousClock.now
        await group.triggerGracefulShutdown()
        _ = try? await running.value
        let took = ContinuousClock.now - started
        // Flushing out its timeout took over 20 s; a bound on a hang, not a performance assertion.
        #expect(took < .seconds(8), "shutdown took \(took)")
        #expect(producer.outstandingMessageCount == 0)
    }

    @Test("an unknown librdkafka property is refused with a precise configuration error")
    func badConfiguration() throws {
        var configuration = KafkaProducerConfiguration(bootstrapServers: ["127.0.0.1:1"])
        configuration.additionalProperties["no.such.property"] = "1"
        #expect {
            _ = try KafkaProducer(configuration: configuration, logger: .kafkaTest)
        } throws: { error in
            guard let error = error as? KafkaError else { return false }
            return error.code == .configuration && error.reason.contains("no.such.property")
        }
    }

    @Test("partitions(of:) lists the partitions of the topics the cluster has, leaves out a missing one, and a message for an explicit partition lands there")
    func partitionsOfTopics() async throws {
        let kafka = try KafkaTestEnvironment()
        let topic = try await kafka.makeTopic(partitions: 3)
        let missing = "missing-\(UInt64.random(in: 0 ... .max))"
        let producer = try KafkaProducer(configuration: kafka.producerConfiguration(), logger: kafka.logger)
        let (partitions, landed) = try await withRunningServices([producer]) {
            let partitions = try await producer.partitions(of: [topic, missing], timeout: .seconds(10))
            let report = try await producer.sendAndAwait(KafkaProducerMessage(topic: topic, key: ByteBuffer(string: "k"), value: ByteBuffer(string: "x"), partition: KafkaPartition(rawValue: 2)))
            guard case .acknowledged(let partition, _) = report.status else { return (partitions, KafkaPartition.unassigned) }
            return (partitions, partition)
        }
        #expect(partitions == [topic: [0, 1, 2]])
        #expect(landed == KafkaPartition(rawValue: 2))
    }
}
