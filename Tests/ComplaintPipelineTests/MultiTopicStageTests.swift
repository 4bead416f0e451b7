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
import Testing

/// Records each event it applies in `applied`, with where it came from: one handler type per topic.
struct TopicRecorder<Payload: EventPayload>: EventHandler {
    let label: String

    func handle(_ event: EventEnvelope<Payload>, context: HandlerContext) async throws -> [OutgoingEvent] {
        try await context.connection.query(
            """
            INSERT INTO applied (handler, topic, kafka_partition, kafka_offset, event_id)
            VALUES (\(label), \(context.origin.topic), \(context.origin.partition), \(context.origin.offset), \(event.id))
            """,
            logger: context.logger)
        return []
    }
}

@Suite("A stage with several input topics", .timeLimit(.minutes(3)))
struct MultiTopicStageTests {
    @Test("three topics interleaved on one group: each message reaches its handler, in partition order, once")
    func threeTopicsOneGroup() async throws {
        let kafka = try KafkaTestEnvironment()
        let received = Topics.received.renamed(try await kafka.makeTopic(prefix: "received", partitions: 2))
        let classified = Topics.classified.renamed(try await kafka.makeTopic(prefix: "classified", partitions: 2))
        let assigned = Topics.assigned.renamed(try await kafka.makeTopic(prefix: "assigned", partitions: 2))
        let deadLetterTopic = try await kafka.makeTopic(prefix: "deadletter", partitions: 1)
        try await withRuntimeTables { client, tables in
            try await client.query(PostgresQuery(unsafeSQL: """
                CREATE TABLE \(tables.schema).applied (
                    seq bigserial PRIMARY KEY, handler text NOT NULL, topic text NOT NULL,
                    kafka_partition int NOT NULL, kafka_offset bigint NOT NULL, event_id uuid NOT NULL)
                """), logger: .complaintTest)

            // Six complaints, each with one event on every topic, published interleaved; three events twice.
            var messages: [(topic: String, key: String, value: [UInt8], id: UUID)] = []
            var expected: [String: Set<UUID>] = ["received": [], "classified": [], "assigned": []]
            for _ in 0..<6 {
                let complaint = UUID()
                let key = complaint.uuidString.lowercased()
                let r = try EventFixtures.received(complaintID: complaint)
                let c = try EventFixtures.classified(complaintID: complaint)
                let a = try EventFixtures.assigned(complaintID: complaint)
                messages.append((received.name, key, try received.encode(r), r.id))
                messages.append((classified.name, key, try classified.encode(c), c.id))
                messages.append((assigned.name, key, try assigned.encode(a), a.id))
                expected["received"]!.insert(r.id)
                expected["classified"]!.insert(c.id)
                expected["assigned"]!.insert(a.id)
            }
            let duplicates = [messages[0], messages[4], messages[8]]
            messages += duplicates

            let producer = try KafkaProducer(configuration: kafka.producerConfiguration(clientID: "multi-topic-source"), logger: kafka.logger)
            try await withRunningServices([producer]) {
                for message in messages {
                    _ = try await producer.sendAndAwait(KafkaProducerMessage(
                        topic: message.topic, key: ByteBuffer(string: message.key), value: ByteBuffer(bytes: message.value)))
                }
            }

            let stageProducer = try KafkaProducer(configuration: kafka.producerConfiguration(clientID: "multi-topic-stage"), logger: kafka.logger)
            let consumer = try KafkaConsumer(
                configuration: kafka.consumerConfiguration(
                    groupID: "multi-topic-\(UUID().uuidString.lowercased())", topics: [received.name, classified.name, assigned.name]),
                logger: kafka.logger)
            let outcomes = LockedOutcomes()
            var hooks = EventPipelineService.CrashPoints()
            hooks.settled = { _, outcome in outcomes.append(outcome) }
            var configuration = PipelineConfiguration(serviceName: "multi-topic-test", schema: tables.schema)
            configuration.retry.initialDelay = .milliseconds(20)
            let pipeline = EventPipelineService(
                inputs: [
                    StageInput(received, TopicRecorder<ComplaintReceived>(label: "received")),
                    StageInput(classified, TopicRecorder<ComplaintClassified>(label: "classified")),
                    StageInput(assigned, TopicRecorder<ComplaintAssigned>(label: "assigned")),
                ],
                consumer: consumer, client: client,
                deadLetters: DeadLetterPublisher(producer: stageProducer, serviceName: "multi-topic-test", topic: deadLetterTopic, logger: kafka.logger),
                configuration: configuration, crashPoints: hooks, logger: kafka.logger)

            try await withRunningServices([stageProducer, consumer, pipeline]) {
                let settled = await eventually(timeout: .seconds(60)) { outcomes.all.count == messages.count }
                #expect(settled, "every message was settled: \(outcomes.all.count) of \(messages.count)")
            }
            #expect(outcomes.all.filter { $0 == .applied }.count == 18)
            #expect(outcomes.all.filter { $0 == .duplicate }.count == 3, "each redelivered event was seen and skipped")

            let rows = try await client.query(
                PostgresQuery(unsafeSQL: "SELECT handler, topic, kafka_partition, kafka_offset, event_id FROM \(tables.schema).applied ORDER BY seq"),
                logger: .complaintTest
            ).collect().map { try $0.decode((String, String, Int32, Int64, UUID).self) }
            #expect(rows.count == 18, "each event applied once")
            let topicOfHandler = ["received": received.name, "classified": classified.name, "assigned": assigned.name]
            for (handler, ids) in expected {
                let mine = rows.filter { $0.0 == handler }
                #expect(Set(mine.map(\.4)) == ids, "\(handler) got exactly its topic's events")
                #expect(mine.allSatisfy { $0.1 == topicOfHandler[handler] })
            }
            // Per partition, applied in offset order.
            for (_, lane) in Dictionary(grouping: rows, by: { "\($0.1)#\($0.2)" }) {
                let offsets = lane.map(\.3)
                #expect(offsets == offsets.sorted(), "applied out of partition order: \(offsets)")
            }
        }
    }
}
