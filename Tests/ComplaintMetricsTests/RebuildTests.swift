import ComplaintEvents
import ComplaintMetrics
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import EventReplay
import Foundation
import HotelTime
import PostgresNIO
import RdKafka
import RdKafkaTestKit
import Testing

/// `redress metrics rebuild`'s core: replaying the topics into a fresh schema gives the numbers the live
/// stage built incrementally (which saw one complaint's events in the wrong order and some twice).
@Suite("metrics rebuild from the topics", .timeLimit(.minutes(3)))
struct RebuildTests {
    /// A rebuild of `harness`'s topics into a fresh schema, dropped however `body` ends.
    static func withRebuild(_ harness: MetricsHarness, _ body: (MetricsRebuild, SchemaName) async throws -> Void) async throws {
        let database = try await TestDatabase.shared.configuration()
        let schema = SchemaName.random(prefix: "metrics_rebuild")
        let rebuild = MetricsRebuild(
            settings: .forTests(kafkaBrokers: harness.kafka.bootstrapServers, databaseURL: database.url), metrics: MetricsHarness.settings,
            topics: harness.topics, schema: schema, logger: .complaintTest)
        do {
            try await body(rebuild, schema)
        } catch {
            try? await dropSchema(schema, client: harness.client)
            throw error
        }
        try await dropSchema(schema, client: harness.client)
    }

    @Test("rebuild equals incremental")
    func rebuildEqualsIncremental() async throws {
        try await MetricsHarness.run { harness in
            var stories = try KPIStageTests.stories()
            // A complaint whose staff actions and clock events are published before its registration.
            var late = try ComplaintStory(hotel: "SHA-PD01", registeredAt: KPIStageTests.shanghai(11, 18), category: .billing)
            late.acknowledge(after: 100)
            late.clock(.met, .acknowledge, after: 100)
            late.resolve(after: 500, firstContact: true, rootCause: "billing_error")
            var reordered = late
            reordered.received = []
            reordered.classified = []
            reordered.assigned = []
            var registration = late
            registration.updated = []
            registration.sla = []
            stories += [reordered, registration]
            try await harness.publish(stories)
            try await harness.waitForApplied(KPIStageTests.eventCount(stories))

            try await Self.withRebuild(harness) { rebuild, schema in
                let outcome = try await rebuild.run(timeout: .seconds(90))
                // Every message read once; the copies published twice skipped as redeliveries.
                #expect(outcome.outcomes[.applied] == KPIStageTests.eventCount(stories))
                #expect(outcome.range.messages == Int64((outcome.outcomes[.applied] ?? 0) + (outcome.outcomes[.duplicate] ?? 0)))
                let comparisons = try await MetricsRebuild.compare(
                    harness.schema, with: schema, hotels: [MetricsHarness.shanghai, MetricsHarness.london],
                    from: LocalDate(year: 2026, month: 11, day: 1), to: LocalDate(year: 2026, month: 11, day: 30), now: Date(),
                    settings: MetricsHarness.settings, client: harness.client, logger: .complaintTest)
                #expect(comparisons.count == 2)
                for comparison in comparisons {
                    #expect(comparison.differences.isEmpty, "\(comparison.hotelID): \(comparison.differences)")
                }
                let shanghai = try #require(comparisons.first { $0.hotelID == "SHA-PD01" })
                #expect(shanghai.rebuilt.totals.volume == 5)
                #expect(shanghai.rebuilt.topRootCauses.contains { $0.rootCause == "billing_error" })
            }
        }
    }

    /// Before: `redress metrics rebuild` compared the hotels of metrics.yaml and of the rebuilt schema, so a
    /// hotel only the live schema had (its events gone from the topics) was left out, not shown as differing.
    @Test("the hotels compared are the file's and those either schema has seen")
    func hotelsOfBothSchemas() async throws {
        try await withMigratedSchema(of: RedressService.metrics.isolated()) { live, client in
            try await withMigratedSchema(of: RedressService.metrics.isolated()) { rebuilt, _ in
                _ = try await client.query(
                    PostgresQuery(unsafeSQL: "INSERT INTO \(live.schema.rawValue).hotels (hotel_id) VALUES ('PAR-GO03'), ('SHA-PD01')"),
                    logger: .complaintTest)
                _ = try await client.query(
                    PostgresQuery(unsafeSQL: "INSERT INTO \(rebuilt.schema.rawValue).hotels (hotel_id) VALUES ('ROM-TR04')"), logger: .complaintTest)
                let hotels = try await MetricsRebuild.hotelsToCompare(
                    live.schema, with: rebuilt.schema, settings: MetricsHarness.settings, client: client, logger: .complaintTest)
                #expect(hotels.map(\.id) == ["LON-KX02", "PAR-GO03", "ROM-TR04", "SHA-PD01"])
                #expect(hotels.first { $0.id == "SHA-PD01" }?.timeZone.identifier == "Asia/Shanghai", "a file's hotel keeps its settings")
            }
        }
    }

    @Test("a fact the live stage applies after the replay's end marks leaves its complaint out of the comparison")
    func lateFactIsLeftOut() async throws {
        try await MetricsHarness.run { harness in
            let stories = try KPIStageTests.stories()
            try await harness.publish(stories)
            try await harness.waitForApplied(KPIStageTests.eventCount(stories))

            try await Self.withRebuild(harness) { rebuild, schema in
                let marked = try await MetricsRebuild.markTime(client: harness.client, logger: .complaintTest)
                try await rebuild.run(timeout: .seconds(90))
                // Weeks on, complaint #3 (11 Nov) gets another follow-up answer: live has it, the replay ended before it.
                var late = stories[2]
                late.received = []
                late.classified = []
                late.assigned = []
                late.updated = []
                late.sla = []
                late.followUp(after: 20 * 86_400, satisfaction: 1, nps: 0)
                try await harness.publish([late])
                try await harness.waitForApplied(KPIStageTests.eventCount(stories) + 1)

                func compare(_ since: Date?) async throws -> [MetricsRebuild.Comparison] {
                    try await MetricsRebuild.compare(
                        harness.schema, with: schema, hotels: [MetricsHarness.shanghai, MetricsHarness.london],
                        from: LocalDate(year: 2026, month: 11, day: 1), to: LocalDate(year: 2026, month: 11, day: 30), now: Date(),
                        unchangedSince: since, settings: MetricsHarness.settings, client: harness.client, logger: .complaintTest)
                }
                // Compared as it was, the late answer makes the hotel differ though both schemas are right.
                let everything = try await compare(nil)
                #expect(everything.first { $0.hotelID == "SHA-PD01" }?.differences.isEmpty == false)
                // Leaving out what changed after the end marks, the rest agrees.
                let consistent = try await compare(marked)
                for comparison in consistent {
                    #expect(comparison.differences.isEmpty, "\(comparison.hotelID): \(comparison.differences)")
                }
                let shanghai = try #require(consistent.first { $0.hotelID == "SHA-PD01" })
                #expect(shanghai.excluded == 1)
                #expect(shanghai.live.totals.volume == 3 && shanghai.rebuilt.totals.volume == 3)
            }
        }
    }
}
