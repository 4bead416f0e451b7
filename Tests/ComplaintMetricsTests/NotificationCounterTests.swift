import ComplaintEvents
import ComplaintMetrics
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import NIOCore
import PostgresNIO
import RdKafka
import RdKafkaTestKit
import Testing

/// Notification outcomes count into rows shared across complaints (hotel, day, channel, status): their
/// events share transactions, each taking its counters' locks first; the received events, whose repeat
/// marks write other complaints' rows, apply one per transaction.
@Suite("Notification counters in shared transactions", .timeLimit(.minutes(3)))
struct NotificationCounterTests {
    @Test("notifications share transactions with their counters locked first; received events one per transaction")
    func inputs() throws {
        let topics = MetricsService.Topics()
        let runtime = MetricsService.makeRuntime(
            settings: ServiceSettings.forTests(kafkaBrokers: ["127.0.0.1:9"], databaseURL: "postgres://nobody@127.0.0.1:9/none"),
            settings: LiveConfiguration(name: "metrics", fixed: MetricsHarness.settings), parts: MetricsHarness.quietParts(),
            logger: .complaintTest)
        let notifications = try #require(runtime.inputs.first { $0.topic == topics.notifications.name })
        #expect(notifications.sharesTransactions && notifications.takesLocksFirst)
        let received = try #require(runtime.inputs.first { $0.topic == topics.received.name })
        #expect(!received.sharesTransactions)
    }

    @Test("outcomes of two hotels, channels and statuses on both partitions: every one counted once")
    func counted() async throws {
        try await MetricsHarness.run { harness in
            let day = Date(timeIntervalSince1970: 1_780_000_000)
            let hotels = [MetricsHarness.shanghai.id, MetricsHarness.london.id]
            var events: [EventEnvelope<NotificationOutcome>] = []
            for index in 0..<48 {
                var event = try EventFixtures.example("notification-outcome.v1.delivered.zh.json", on: Topics.notifications)
                event.id = UUID()
                event.hotelID = hotels[index % 2]
                event.data.complaintID = UUID()
                event.data.notificationID = UUID()
                event.data.channel = index % 3 == 0 ? .email : .wechat
                event.data.occurredAt = day.addingTimeInterval(Double(index))
                events.append(event)
            }
            // In one burst, so lanes find backlogs to apply together.
            let producer = try KafkaProducer(configuration: harness.kafka.producerConfiguration(), logger: harness.kafka.logger)
            let topic = harness.topics.notifications
            try await withRunningServices([producer]) {
                for event in events {
                    try producer.send(KafkaProducerMessage(
                        topic: topic.name, key: topic.key(for: event).map { ByteBuffer(bytes: $0) }, value: ByteBuffer(bytes: try topic.encode(event))))
                }
                try await producer.flush(timeout: .seconds(20))
            }
            try await harness.waitForApplied(events.count)
            var expected: [String: Int] = [:]
            for event in events { expected["\(event.hotelID)|\(event.data.channel.rawValue)", default: 0] += 1 }
            let rows = try await harness.client.query(
                PostgresQuery(unsafeSQL: """
                    SELECT hotel_id || '|' || channel, sum(count)::int FROM \(harness.schema.rawValue).notification_outcomes
                    WHERE status = 'delivered' GROUP BY 1
                    """), logger: .complaintTest)
            var counted: [String: Int] = [:]
            for try await (key, count) in rows.decode((String, Int).self) { counted[key] = count }
            #expect(counted == expected)
        }
    }
}
