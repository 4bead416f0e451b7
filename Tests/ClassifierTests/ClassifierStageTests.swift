import Classifier
import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import Logging
import NIOCore
import PostgresNIO
import RdKafka
import RdKafkaTestKit
import ServiceLifecycle
import Testing

@Suite("Classifier stage end to end", .timeLimit(.minutes(3)))
struct ClassifierStageTests {
    @Test("received in → classified out, once, even when the input is redelivered")
    func endToEnd() async throws {
        let kafka = try KafkaTestEnvironment()
        // One input partition: the sentinel published last is handled after both copies of the first event.
        // The classifier's own migrations (services/classifier/migrations), applied to this test's schema.
        let stage = try await TestClassifierStage(kafka, outputPartitions: 2)
        let (input, output, schema) = (stage.input, stage.output, stage.service.schema)
        let database = try await TestDatabase.shared.configuration()
        let runtime = stage.runtime
        let group = try runtime.makeServiceGroup()

        var first = try EventFixtures.received()
        first.data.text = "空调不制冷，房间里闷热得睡不着"
        first.data.guest.isVIP = false
        var second = try EventFixtures.received()
        second.data.text = "Loud music from the room next door until 3am"

        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let producer = try KafkaProducer(configuration: kafka.producerConfiguration(), logger: kafka.logger)
            try await withRunningServices([producer]) {
                for event in [first, first, second] {
                    _ = try await producer.sendAndAwait(KafkaProducerMessage(
                        topic: input.name, key: ByteBuffer(string: event.data.complaintID.uuidString.lowercased()),
                        value: ByteBuffer(bytes: try input.encode(event))))
                }
            }
            let consumer = try KafkaConsumer(configuration: kafka.consumerConfiguration(topics: [output.name]), logger: kafka.logger)
            let published = try await withRunningServices([consumer]) { try await consumer.collect(2) }
            let events = try published.map { try output.decode(Array($0.value.readableBytesView)) }
            let byComplaint = Dictionary(grouping: events, by: \.data.complaintID)
            #expect(byComplaint[first.data.complaintID]?.count == 1)
            #expect(byComplaint[second.data.complaintID]?.count == 1)
            let classified = try #require(byComplaint[first.data.complaintID]?.first)
            #expect(classified.data.category == .maintenance)
            #expect(classified.data.language == "zh-CN")
            #expect(!classified.data.flags.isRepeat)
            #expect(classified.hotelID == first.hotelID)
            // Same guest and reservation as the first (both from the fixture), counted once despite redelivery.
            let sentinel = try #require(byComplaint[second.data.complaintID]?.first)
            #expect(sentinel.data.category == .noise)
            #expect(sentinel.data.flags.isRepeat)
            #expect(sentinel.data.flags.isVIP)

            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        try await withClient(database) { client in
            func count(_ sql: String) async throws -> Int {
                try await client.query(PostgresQuery(unsafeSQL: sql), logger: .complaintTest).collect()[0].decode(Int.self)
            }
            #expect(try await count("SELECT count(*)::int FROM \(schema).classifications") == 2)
            #expect(try await count("SELECT count(*)::int FROM \(schema).guest_history") == 2)
            #expect(try await count("SELECT count(*)::int FROM \(schema).outbox") == 2)
            try await dropSchema(schema, client: client)
        }
    }
}
