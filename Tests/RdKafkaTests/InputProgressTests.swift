@testable import RdKafka
import RdKafkaTestKit
import Testing

@Suite("KafkaConsumer.inputProgress", .timeLimit(.minutes(3)))
struct InputProgressTests {
    @Test("owned partitions' ends and what was stored: behind until the last message is stored; every partition of the topic listed; throws with the broker down")
    func progressFollowsStoredOffsets() async throws {
        let kafka = try KafkaTestEnvironment()
        let topic = try await kafka.makeTopic(partitions: 2)
        let producer = try KafkaProducer(configuration: kafka.producerConfiguration(), logger: kafka.logger)
        try await withRunningServices([producer]) {
            for index in 0..<6 {
                _ = try await producer.sendAndAwait(KafkaProducerMessage(topic: topic, key: "k", value: "m\(index)"))
            }
        }
        let consumer = try KafkaConsumer(configuration: kafka.consumerConfiguration(topics: [topic]), logger: kafka.logger)
        try await withRunningServices([consumer]) {
            // Read, not yet processed: the ends are ahead of what was processed (nothing committed: the start).
            let messages = try await consumer.collect(6, storingOffsets: false)
            let before = try await consumer.inputProgress()
            #expect(before.topicPartitions == [topic: [0, 1]])
            #expect(before.partitions.count == 2)
            #expect(before.partitions.reduce(0) { $0 + $1.end } == 6)
            #expect(before.partitions.allSatisfy { $0.processed == 0 })
            try consumer.storeOffsets(messages.dropLast())
            let partial = try await consumer.inputProgress()
            #expect(partial.partitions.filter { $0.processed < $0.end }.count == 1)
            try consumer.storeOffsets(messages.suffix(1))
            let after = try await consumer.inputProgress()
            #expect(after.partitions.allSatisfy { $0.processed == $0.end }, "\(after.partitions)")
            if let cluster = kafka.embedded {
                try cluster.setBrokerDown(1)
                defer { try? cluster.setBrokerUp(1) }
                await #expect(throws: KafkaError.self) { try await consumer.inputProgress(timeout: .milliseconds(500)) }
            }
        }
    }

    @Test("processed is never below the first offset kept: a commit the broker no longer keeps (the group away longer than retention) counts as the start")
    func processedFromTheStart() {
        // Committed 10, the log now starts at 50 and ends at 50 (idle): caught up, not 40 behind for ever.
        #expect(KafkaInputProgress.processed(stored: nil, committed: 10, start: 50) == 50)
        #expect(KafkaInputProgress.processed(stored: 30, committed: 10, start: 50) == 50)
        #expect(KafkaInputProgress.processed(stored: 60, committed: 55, start: 50) == 60)
        #expect(KafkaInputProgress.processed(stored: nil, committed: 55, start: 50) == 55)
        #expect(KafkaInputProgress.processed(stored: nil, committed: nil, start: 7) == 7)
    }
}
