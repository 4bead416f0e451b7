import ComplaintEvents
import ComplaintMetrics
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import EventReplay
import Foundation
import HotelTime
import RdKafka
import RdKafkaTestKit
import Testing

/// `redress metrics rebuild` in an environment that shares its cluster under `KAFKA_TOPIC_PREFIX`: it reads
/// the topics the metrics service of that environment reads, not the unprefixed ones.
@Suite("metrics rebuild under a topic prefix", .timeLimit(.minutes(3)))
struct RebuildPrefixTests {
    @Test("the rebuild reads Redress's topics under the settings' topic prefix and gives the live numbers")
    func rebuildUnderPrefix() async throws {
        let kafka = try KafkaTestEnvironment()
        let prefix = "rebuild-\(UUID().uuidString.lowercased().prefix(8))."
        let topics = MetricsService.Topics().prefixed(prefix)
        for name in [topics.received.name, topics.classified.name, topics.assigned.name, topics.updated.name, topics.sla.name, topics.notifications.name] {
            try await kafka.createTopic(name, partitions: 2)
        }
        try await kafka.createTopic(topics.alerts.name, partitions: 1)

        try await MetricsHarness.run(topics: topics, kafka: kafka) { harness in
            let stories = try KPIStageTests.stories()
            try await harness.publish(stories)
            try await harness.waitForApplied(KPIStageTests.eventCount(stories))

            let database = try await TestDatabase.shared.configuration()
            var settings = ServiceSettings.forTests(kafkaBrokers: kafka.bootstrapServers, databaseURL: database.url)
            settings.topicPrefix = prefix
            let schema = SchemaName.random(prefix: "metrics_rebuild")
            // The shipped topic names, as `redress metrics rebuild` has them; the prefix comes from the settings.
            let rebuild = MetricsRebuild(settings: settings, metrics: MetricsHarness.settings, schema: schema, logger: .complaintTest)
            do {
                let outcome = try await rebuild.run(timeout: .seconds(60))
                #expect(outcome.outcomes[.applied] == KPIStageTests.eventCount(stories))
                let comparisons = try await MetricsRebuild.compare(
                    harness.schema, with: schema, hotels: [MetricsHarness.shanghai, MetricsHarness.london],
                    from: LocalDate(year: 2026, month: 11, day: 1), to: LocalDate(year: 2026, month: 11, day: 30), now: Date(),
                    settings: MetricsHarness.settings, client: harness.client, logger: .complaintTest)
                for comparison in comparisons {
                    #expect(comparison.differences.isEmpty, "\(comparison.hotelID): \(comparison.differences)")
                }
            } catch {
                try? await dropSchema(schema, client: harness.client)
                throw error
            }
            try await dropSchema(schema, client: harness.client)
        }
    }
}
