import Logging
import RdKafka
import RdKafkaTestKit
import Testing

/// Faults are injected through the embedded cluster, so these tests skip against an external Kafka.
@Suite("Fault tolerance", .timeLimit(.minutes(3)), .enabled(if: !KafkaTestEnvironment.usesExternalKafka, "needs the embedded cluster to inject faults"))
struct FaultToleranceTests {
    @Test("a broker down for a few seconds while producing: every message is delivered once it returns")
    func brokerOutageWhileProducing() async throws {
        let kafka = try KafkaTestEnvironment(brokers: 1)
        let cluster = try #require(kafka.embedded)
        let topic = try await kafka.makeTopic(partitions: 3)
        let producer = try KafkaProducer(configuration: kafka.producerConfiguration(), logger: kafka.logger)
        let count = 3_000

        let reports = try await withRunningServices([producer]) {
            try await withThrowingTaskGroup(of: KafkaDeliveryReport.self) { group in
                for index in 0..<count {
                    if index == 1_000 {
                        try cluster.setBrokerDown(1)
                        group.addTask {
                            try await Task.sleep(for: .seconds(3))
                            try cluster.setBrokerUp(1)
                            return KafkaDeliveryReport(id: KafkaProducerMessageID(rawValue: 0), topic: "", status: .acknowledged(partition: .unassigned, offset: .invalid))
                        }
                    }
                    group.addTask {
                        try await producer.sendAndAwait(KafkaProducerMessage(topic: topic, key: "k\(index)", value: "v\(index)"))
                    }
                }
                var reports: [KafkaDeliveryReport] = []
                for try await report in group where report.id.rawValue != 0 { reports.append(report) }
                return reports
            }
        }
        #expect(reports.count == count)
        #expect(producer.failedMessageCount == 0)

        let consumer = try KafkaConsumer(configuration: kafka.consumerConfiguration(topics: [topic]), logger: kafka.logger)
        let received = try await withRunningServices([consumer]) { try await consumer.collect(count, timeout: .seconds(60)) }
        #expect(Set(received.map(\.valueString)) == Set((0..<count).map { "v\($0)" }), "all delivered, none duplicated by the retries")
        #expect(received.count == count)
    }

    @Test("transient produce errors injected by the broker are retried, not reported")
    func injectedProduceErrors() async throws {
        let kafka = try KafkaTestEnvironment()
        let cluster = try #require(kafka.embedded)
        let topic = try await kafka.makeTopic(partitions: 1)
        let producer = try KafkaProducer(configuration: kafka.producerConfiguration(), logger: kafka.logger)
        try await withRunningServices([producer]) {
            // Warm up so the idempotent producer has its id, then fail the next produce requests.
            _ = try await producer.sendAndAwait(KafkaProducerMessage(topic: topic, key: nil, value: "warm-up"))
            // 7 = REQUEST_TIMED_OUT, 6 = NOT_LEADER_OR_FOLLOWER: both retriable.
            cluster.pushRequestErrors([7, 6, 7], for: .produce)
            let report = try await producer.sendAndAwait(KafkaProducerMessage(topic: topic, key: nil, value: "after errors"))
            guard case .acknowledged = report.status else {
                Issue.record("expected acknowledgement, got \(report)")
                return
            }
        }
        #expect(producer.failedMessageCount == 0)
    }

    @Test("added round-trip time slows acknowledgements but loses nothing")
    func roundTripTime() async throws {
        let kafka = try KafkaTestEnvironment()
        let cluster = try #require(kafka.embedded)
        let topic = try await kafka.makeTopic(partitions: 1)
        try cluster.setRoundTripTime(.milliseconds(300), broker: 1)
        let producer = try KafkaProducer(configuration: kafka.producerConfiguration(), logger: kafka.logger)
        let clock = ContinuousClock()
        let elapsed = try await withRunningServices([producer]) {
            try await clock.measure {
                _ = try await producer.sendAndAwait(KafkaProducerMessage(topic: topic, key: nil, value: "slow"))
            }
        }
        #expect(elapsed >= .milliseconds(300))
    }

    @Test("the consumer rides out a broker outage and resumes where it was")
    func consumerSurvivesOutage() async throws {
        let kafka = try KafkaTestEnvironment()
        let cluster = try #require(kafka.embedded)
        let topic = try await kafka.makeTopic(partitions: 2)
        let producer = try KafkaProducer(configuration: kafka.producerConfiguration(), logger: kafka.logger)
        let consumer = try KafkaConsumer(configuration: kafka.consumerConfiguration(topics: [topic]), logger: kafka.logger)
        let (before, after) = try await withRunningServices([producer, consumer]) {
            for index in 0..<50 { _ = try await producer.sendAndAwait(KafkaProducerMessage(topic: topic, key: "k\(index)", value: "before \(index)")) }
            let before = try await consumer.collect(50)
            try await consumer.commit()
            try cluster.setBrokerDown(1)
            try await Task.sleep(for: .seconds(2))
            try cluster.setBrokerUp(1)
            for index in 0..<50 { _ = try await producer.sendAndAwait(KafkaProducerMessage(topic: topic, key: "k\(index)", value: "after \(index)")) }
            // At-least-once: if the group had to be rebuilt, committed-but-unacknowledged work may
            // come again; what matters is that every new message arrives.
            let after = try await withTimeout(.seconds(60)) {
                var seen = Set<String>()
                for try await message in consumer.messages {
                    if message.valueString.hasPrefix("after") { seen.insert(message.valueString) }
                    try consumer.storeOffset(message)
                    if seen.count == 50 { break }
                }
                return seen
            }
            return (before, after)
        }
        #expect(Set(before.map(\.valueString)) == Set((0..<50).map { "before \($0)" }))
        #expect(after == Set((0..<50).map { "after \($0)" }))
    }
}
