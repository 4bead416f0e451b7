import Logging
@testable import RdKafka
import RdKafkaTestKit
import Synchronization
import Testing

@Suite("Consumer groups", .timeLimit(.minutes(3)))
struct ConsumerGroupTests {
    /// Collects the values a consumer processed, storing each offset.
    final class Received: Sendable {
        let values = Mutex<[String]>([])
        var count: Int { values.withLock { $0.count } }
        /// The values received, each once: a rebalance may deliver a message again (at least once).
        var distinct: Set<String> { values.withLock { Set($0) } }
    }

    static func consume(_ consumer: KafkaConsumer, into received: Received) -> Task<Void, any Error> {
        Task {
            for try await message in consumer.messages {
                received.values.withLock { $0.append(message.valueString) }
                try consumer.storeOffset(message)
            }
        }
    }

    static func waitUntil(_ timeout: Duration = .seconds(90), _ condition: @escaping @Sendable () -> Bool) async throws {
        try await withTimeout(timeout) {
            while !condition() { try await Task.sleep(for: .milliseconds(50)) }
        }
    }

    @Test("a consumer that is running but not read yet (a replica still migrating) takes no partitions from the group")
    func unreadConsumerTakesNoPartitions() async throws {
        let kafka = try KafkaTestEnvironment()
        let topic = try await kafka.makeTopic(partitions: 4)
        let group = "group-\(topic)"
        let producer = try KafkaProducer(configuration: kafka.producerConfiguration(), logger: kafka.logger)
        let reading = try KafkaConsumer(configuration: kafka.consumerConfiguration(groupID: group, topics: [topic]), logger: kafka.logger)
        let idle = try KafkaConsumer(configuration: kafka.consumerConfiguration(groupID: group, topics: [topic]), logger: kafka.logger)
        let received = Received()
        try await withRunningServices([producer, idle, reading]) {
            let task = Self.consume(reading, into: received)
            defer { task.cancel() }
            try await Self.waitUntil { reading.assignment.count == 4 }
            for index in 0..<40 {
                _ = try await producer.sendAndAwait(KafkaProducerMessage(topic: topic, key: "key-\(index)", value: "m\(index)"))
            }
            // Joined at creation, the idle one would hold half the partitions, their messages unread.
            try await Self.waitUntil { received.distinct.count == 40 }
            #expect(idle.assignment.isEmpty)
        }
    }

    @Test("a consumer that must listen before anything is sent joins its group when asked, before its first read")
    func joinsWhenAsked() async throws {
        let kafka = try KafkaTestEnvironment()
        let topic = try await kafka.makeTopic(partitions: 2)
        var configuration = kafka.consumerConfiguration(topics: [topic])
        configuration.autoOffsetReset = .latest
        let consumer = try KafkaConsumer(configuration: configuration, logger: kafka.logger)
        try await withRunningServices([consumer]) {
            try await consumer.waitForAssignment()
            #expect(consumer.assignment.count == 2)
        }
    }

    @Test("two consumers split the partitions; when one leaves the other receives the rest")
    func splitAndTakeOver() async throws {
        let kafka = try KafkaTestEnvironment()
        let topic = try await kafka.makeTopic(partitions: 4)
        let group = "group-\(topic)"
        let producer = try KafkaProducer(configuration: kafka.producerConfiguration(), logger: kafka.logger)
        let first = try KafkaConsumer(configuration: kafka.consumerConfiguration(groupID: group, topics: [topic]), logger: kafka.logger)
        let second = try KafkaConsumer(configuration: kafka.consumerConfiguration(groupID: group, topics: [topic]), logger: kafka.logger)
        let firstReceived = Received()
        let secondReceived = Received()

        try await withRunningServices([producer, first]) {
            let firstTask = Self.consume(first, into: firstReceived)
            defer { firstTask.cancel() }
            try await withRunningServices([second]) {
                let secondTask = Self.consume(second, into: secondReceived)
                defer { secondTask.cancel() }
                // Both members own partitions before anything is produced.
                try await Self.waitUntil { first.assignment.count == 2 && second.assignment.count == 2 }
                let firstPartitions = Set(first.assignment.map(\.partition))
                let secondPartitions = Set(second.assignment.map(\.partition))
                #expect(firstPartitions.isDisjoint(with: secondPartitions))

                for index in 0..<200 {
                    _ = try await producer.sendAndAwait(KafkaProducerMessage(topic: topic, key: "key-\(index)", value: "a\(index)"))
                }
                // Distinct values: a redelivery (a rebalance under load) must not keep the sum off 200 for ever.
                try await Self.waitUntil { firstReceived.distinct.union(secondReceived.distinct).count == 200 }
                #expect(firstReceived.count > 0)
                #expect(secondReceived.count > 0)
                try await second.commit()
            }
            // The second consumer left the group: the first takes over all four partitions.
            try await Self.waitUntil { first.assignment.count == 4 }
            for index in 0..<200 {
                _ = try await producer.sendAndAwait(KafkaProducerMessage(topic: topic, key: "key-\(index)", value: "b\(index)"))
            }
            try await Self.waitUntil { firstReceived.values.withLock { $0.filter { $0.hasPrefix("b") }.count } == 200 }
        }
        let all = firstReceived.values.withLock { $0 } + secondReceived.values.withLock { $0 }
        #expect(Set(all) == Set((0..<200).map { "a\($0)" } + (0..<200).map { "b\($0)" }))
        // At-least-once: a message taken but not yet stored when a rebalance revokes its partition is
        // read again by the new owner (the pipeline's inbox absorbs such duplicates). Nothing is lost.
        #expect(all.count >= 400)
    }

    @Test(
        "a consumer giving partitions to a joining member tells its revocation handler while it still owns them",
        arguments: [false, true])
    func revocationHandlerRunsBeforeLettingGo(cooperative: Bool) async throws {
        let kafka = try KafkaTestEnvironment()
        let topic = try await kafka.makeTopic(partitions: 2)
        let group = "group-\(topic)"
        var handled = kafka.consumerConfiguration(groupID: group, topics: [topic])
        handled.isRevocationHandled = true
        if cooperative { handled.additionalProperties["partition.assignment.strategy"] = "cooperative-sticky" }
        let first = try KafkaConsumer(configuration: handled, logger: kafka.logger)
        let second = try KafkaConsumer(configuration: handled, logger: kafka.logger)
        let revocations = Mutex<[(revoked: [Int32], owned: Int)]>([])
        first.onRevocation { partitions in
            let owned = first.assignment.count
            revocations.withLock { $0.append((partitions.map(\.partition.rawValue).sorted(), owned)) }
        }
        try await withRunningServices([first]) {
            let firstTask = Self.consume(first, into: Received())
            defer { firstTask.cancel() }
            try await Self.waitUntil { first.assignment.count == 2 }
            #expect(revocations.withLock { $0.isEmpty })
            try await withRunningServices([second]) {
                let secondTask = Self.consume(second, into: Received())
                defer { secondTask.cancel() }
                try await Self.waitUntil { first.assignment.count == 1 && second.assignment.count == 1 }
            }
        }
        let seen = revocations.withLock { $0 }
        // The default assignors are eager: the whole assignment is revoked, then part of it given back
        // (rd_kafka_assign); a cooperative one revokes only the partition that moves (incremental calls).
        #expect(seen.first?.revoked.count == (cooperative ? 1 : 2), "\(seen)")
        #expect(seen.first?.owned == 2, "still owned while the handler runs")
    }

    @Test("the revocation handler runs on the consumer's poll thread, also when the reader is busy with a backlog")
    func revocationHandlerRunsOnThePollThread() async throws {
        let kafka = try KafkaTestEnvironment()
        let topic = try await kafka.makeTopic(partitions: 2)
        let group = "group-\(topic)"
        let producer = try KafkaProducer(configuration: kafka.producerConfiguration(), logger: kafka.logger)
        try await withRunningServices([producer]) {
            try await withThrowingTaskGroup(of: Void.self) { sends in
                for index in 0..<10_000 {
                    sends.addTask { _ = try await producer.sendAndAwait(KafkaProducerMessage(topic: topic, key: "key-\(index)", value: "m\(index)")) }
                }
                try await sends.waitForAll()
            }
        }
        var handled = kafka.consumerConfiguration(groupID: group, topics: [topic])
        handled.isRevocationHandled = true
        let first = try KafkaConsumer(configuration: handled, logger: kafka.logger)
        let second = try KafkaConsumer(configuration: handled, logger: kafka.logger)
        // Whether each call of the handler ran on the poll executor (not a thread of the cooperative pool).
        let onPollThread = Mutex<[Bool]>([])
        first.onRevocation { _ in
            let onThread = first.isOnPollThread
            onPollThread.withLock { $0.append(onThread) }
        }
        let firstReceived = Received()
        try await withRunningServices([first]) {
            // A reader with work to do: librdkafka has the backlog fetched ahead, so the old quick poll on
            // the reader's own thread (timeout 0) found messages every time and served the rebalance there.
            let firstTask = Task {
                for try await message in first.messages {
                    firstReceived.values.withLock { $0.append(message.valueString) }
                    try first.storeOffset(message)
                    try await Task.sleep(for: .milliseconds(1))
                }
            }
            defer { firstTask.cancel() }
            try await Self.waitUntil { firstReceived.count > 0 }
            try await withRunningServices([second]) {
                let secondTask = Self.consume(second, into: Received())
                defer { secondTask.cancel() }
                try await Self.waitUntil { first.assignment.count == 1 && second.assignment.count == 1 }
            }
            #expect(firstReceived.count < 10_000, "the rebalance came while the reader still had a backlog")
        }
        let seen = onPollThread.withLock { $0 }
        #expect(!seen.isEmpty)
        #expect(seen.allSatisfy { $0 }, "handler calls on the poll thread: \(seen)")
    }
}
