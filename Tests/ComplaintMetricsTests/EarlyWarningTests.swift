import ComplaintEvents
@testable import ComplaintMetrics
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

/// The early-warning sweep on real rollups: a category spike against the hotel's own weeks fires once and
/// clears, spend over the month's budget and compliance under target raise their own episodes (raised again
/// when one worsens to critical, cleared when its budget is taken away), and each episode is published on
/// alerts.v1 as raised and then cleared with the same alert id.
@Suite("metrics early warning", .timeLimit(.minutes(3)))
struct EarlyWarningTests {
    /// `stories` published and applied, and the sweep of the harness's schema with its settings.
    static func sweep(afterApplying stories: [ComplaintStory], in harness: MetricsHarness) async throws -> AlertSweep {
        try await harness.publish(stories)
        try await harness.waitForApplied(KPIStageTests.eventCount(stories))
        return AlertSweep(
            store: StageStore(client: harness.client, schema: harness.schema, logger: .complaintTest),
            settings: LiveConfiguration(name: "metrics", fixed: MetricsHarness.settings), topic: harness.topics.alerts,
            source: "/redress/metrics", lockKey: harness.schema.rawValue, logger: .complaintTest)
    }

    /// Wednesday 18 Nov 2026, 10:30 UTC.
    static let now = ISO8601DateFormatter().date(from: "2026-11-18T10:30:00Z")!

    @Test("a spike raises once and clears; budget and SLA compliance raise theirs; all on alerts.v1")
    func sweep() async throws {
        try await MetricsHarness.run { harness in
            var stories: [ComplaintStory] = []
            // The norm: two maintenance complaints in this hour of the week, each of the last four weeks.
            for week in 1...4 {
                for minute in [10, 40] {
                    stories.append(try ComplaintStory(
                        hotel: "SHA-PD01", registeredAt: Self.now.addingTimeInterval(-Double(week) * 7 * 86_400 - Double(minute) * 60)))
                }
            }
            // This hour: twelve, acknowledged late (every deadline breached), one with compensation over budget.
            for index in 0..<12 {
                var story = try ComplaintStory(hotel: "SHA-PD01", registeredAt: Self.now.addingTimeInterval(-Double(index + 1) * 240))
                story.clock(.breached, .acknowledge, after: 60)
                if index == 0 { story.compensate(after: 30, 5_200_000, "CNY") }
                stories.append(story)
            }
            // London, quiet and on time.
            var london = try ComplaintStory(hotel: "LON-KX02", registeredAt: Self.now.addingTimeInterval(-600), category: .noise)
            london.clock(.met, .acknowledge, after: 60)
            stories.append(london)
            try await harness.publish(stories)
            try await harness.waitForApplied(KPIStageTests.eventCount(stories))

            let settings = LiveConfiguration(name: "metrics", fixed: MetricsHarness.settings)
            let store = StageStore(client: harness.client, schema: harness.schema, logger: .complaintTest)
            let sweep = AlertSweep(
                store: store, settings: settings, topic: harness.topics.alerts, source: "/redress/metrics", lockKey: harness.schema.rawValue,
                logger: .complaintTest)
            // Spike, budget, acknowledge compliance (12 breached of 12).
            #expect(try await sweep.sweep(now: Self.now) == 3)
            // The same situation a minute later: the episodes are open, nothing new.
            #expect(try await sweep.sweep(now: Self.now.addingTimeInterval(60)) == 0)
            let open = try await harness.get("/v1/alerts?hotel=SHA-PD01")
            let alerts = open.json["alerts"] as? [[String: Any]] ?? []
            #expect(Set(alerts.compactMap { $0["kind"] as? String }) == ["category_spike", "compensation_budget", "sla_compliance"])
            #expect(try await harness.get("/v1/alerts?hotel=SHA-PD01&state=open").status == 422)

            // Spend climbs past 120 % of the budget (a noise complaint, so the maintenance spike stays as
            // it was): the open episode is raised again under its id, now critical; once, not every sweep.
            var more = try ComplaintStory(hotel: "SHA-PD01", registeredAt: Self.now.addingTimeInterval(-100), category: .noise)
            more.compensate(after: 30, 1_000_000, "CNY")
            try await harness.publish([more])
            try await harness.waitForApplied(KPIStageTests.eventCount(stories + [more]))
            #expect(try await sweep.sweep(now: Self.now.addingTimeInterval(90)) == 1)
            #expect(try await sweep.sweep(now: Self.now.addingTimeInterval(120)) == 0)

            // Two hours on the spike has passed (the window is quiet again) and the breaches left the 24 h window
            // after a day: the spike clears at +2 h, compliance at +25 h; the budget stays over for the month.
            #expect(try await sweep.sweep(now: Self.now.addingTimeInterval(7200)) == 1)
            #expect(try await sweep.sweep(now: Self.now.addingTimeInterval(25 * 3600)) == 1)
            // The CNY budget taken out of the file: nothing judges the spend any more, the episode clears.
            var withoutBudget = MetricsHarness.settings
            withoutBudget.hotels["SHA-PD01"]?.monthlyBudget = [:]
            let unbudgeted = AlertSweep(
                store: store, settings: LiveConfiguration(name: "metrics", fixed: withoutBudget), topic: harness.topics.alerts,
                source: "/redress/metrics", lockKey: harness.schema.rawValue, logger: .complaintTest)
            #expect(try await unbudgeted.sweep(now: Self.now.addingTimeInterval(26 * 3600)) == 1)
            #expect(try await unbudgeted.sweep(now: Self.now.addingTimeInterval(26 * 3600 + 60)) == 0)

            let consumer = try KafkaConsumer(
                configuration: harness.kafka.consumerConfiguration(topics: [harness.topics.alerts.name]), logger: harness.kafka.logger)
            let messages = try await withRunningServices([consumer]) { try await consumer.collect(7) }
            let events = try messages.map { try harness.topics.alerts.decode(Array($0.value.readableBytesView)) }
            let spike = events.filter { $0.data.kind == .categorySpike }
            #expect(spike.map(\.data.state) == [.raised, .cleared])
            #expect(Set(spike.map(\.data.alertID)).count == 1)
            let raised = try #require(spike.first?.data)
            #expect(raised.category == .maintenance && raised.observed == 12 && raised.baseline == 2)
            #expect((raised.pValue ?? 1) < 0.001)
            // P(X ≥ 12 | 2) ≈ 1.4e-6: unusual (below 0.001), not yet critical (1e-6).
            #expect(raised.severity == .warning)
            let budget = try #require(events.first { $0.data.kind == .compensationBudget }?.data)
            #expect(budget.currency == "CNY" && budget.observed == 5_200_000 && budget.baseline == 5_000_000 && budget.state == .raised)
            #expect(budget.severity == .warning, "104 % of the budget")
            let budgets = events.filter { $0.data.kind == .compensationBudget }.map(\.data)
            #expect(budgets.map(\.state) == [.raised, .raised, .cleared])
            #expect(budgets.map(\.severity) == [.warning, .critical, .critical])
            #expect(budgets.dropFirst().first?.observed == 6_200_000, "124 %")
            #expect(Set(budgets.map(\.alertID)).count == 1)
            let compliance = events.filter { $0.data.kind == .slaCompliance }
            #expect(compliance.map(\.data.state) == [.raised, .cleared])
            #expect(compliance.first?.data.slaTarget == .acknowledge && compliance.first?.data.ratio == 0)
            #expect(events.allSatisfy { $0.hotelID == "SHA-PD01" })
        }
    }

    /// London moved to summer time on 29 March 2026. Its Wednesday 19:30 is 18:30 UTC on 8 April and 19:30
    /// UTC a fortnight before: the baseline's weeks are the hotel's same hours, not the same UTC hours
    /// (which held none of the earlier weeks' complaints, made the norm a quarter and raised a spike).
    @Test("a spike's baseline weeks follow the hotel's clock across a daylight-saving change")
    func baselineAcrossSummerTime() async throws {
        let london = {
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZone(identifier: "Europe/London")!
            return calendar
        }()
        let now = try #require(london.date(from: DateComponents(year: 2026, month: 4, day: 8, hour: 19, minute: 30)))
        try await MetricsHarness.run { harness in
            var stories: [ComplaintStory] = []
            // Ten complaints between 18:40 and 19:25 London time, this Wednesday and each of the four before.
            for week in 0...4 {
                let sameTime = try #require(london.date(byAdding: .day, value: -7 * week, to: now))
                for minutes in stride(from: 5, through: 50, by: 5) {
                    stories.append(try ComplaintStory(hotel: "LON-KX02", registeredAt: sameTime.addingTimeInterval(-Double(minutes) * 60)))
                }
            }
            let sweep = try await Self.sweep(afterApplying: stories, in: harness)
            // Ten against a norm of ten: nothing to raise.
            #expect(try await sweep.sweep(now: now) == 0)
        }
    }

    /// London's clocks go back at 01:00 UTC on Sunday 25 October 2026 (02:00 BST becomes 01:00 GMT). At
    /// 01:30 UTC the last hour runs from 01:30 BST to 01:30 GMT: through the local clock and back both ends
    /// were the same instant, the window was empty, and the open spike cleared (to be raised again under a
    /// new alert id the sweep after).
    @Test("an open spike does not clear falsely in the hour the clocks go back")
    func spikeAcrossTheRepeatedHour() async throws {
        let utc = ISO8601DateFormatter()
        let raisedAt = try #require(utc.date(from: "2026-10-25T00:55:00Z"))
        let later = try #require(utc.date(from: "2026-10-25T01:30:00Z"))
        try await MetricsHarness.run { harness in
            // Twelve maintenance complaints from 00:32 to 00:54 UTC; none in the weeks before.
            let stories = try (0..<12).map { index in
                try ComplaintStory(hotel: "LON-KX02", registeredAt: raisedAt.addingTimeInterval(-Double(index + 1) * 120 + 60))
            }
            let sweep = try await Self.sweep(afterApplying: stories, in: harness)
            #expect(try await sweep.sweep(now: raisedAt) == 1, "the spike is raised")
            // All twelve are still in the last hour (00:30 to 01:30 UTC): nothing is cleared, nothing raised.
            #expect(try await sweep.sweep(now: later) == 0)
            let open = try await harness.get("/v1/alerts?hotel=LON-KX02")
            let alerts = open.json["alerts"] as? [[String: Any]] ?? []
            #expect(alerts.count == 1 && alerts.first?["kind"] as? String == "category_spike", "\(open.body)")
        }
    }

    /// The same night: the comparison weeks' windows, shifted on London's clock at both ends, ran from 01:30
    /// to 01:30 and held nothing, so the norm fell to `minimumBaseline` and six complaints where six are
    /// usual raised a spike.
    @Test("the comparison weeks keep their hour in the hour the clocks go back")
    func baselineInTheRepeatedHour() async throws {
        let utc = ISO8601DateFormatter()
        let now = try #require(utc.date(from: "2026-10-25T01:30:00Z"))
        try await MetricsHarness.run { harness in
            // Six complaints between 00:40 and 00:50 UTC (01:40 to 01:50 BST), this Sunday and each of the four before.
            var stories: [ComplaintStory] = []
            for week in 0...4 {
                for minutes in stride(from: 40, through: 50, by: 2) {
                    let at = now.addingTimeInterval(-Double(week) * 7 * 86_400 - Double(90 - minutes) * 60)
                    stories.append(try ComplaintStory(hotel: "LON-KX02", registeredAt: at))
                }
            }
            let sweep = try await Self.sweep(afterApplying: stories, in: harness)
            // Six against a norm of six: nothing to raise.
            #expect(try await sweep.sweep(now: now) == 0)
        }
    }

    /// A comparison week's window lasted `end - start` added on the session's clock: PostgreSQL made 24 h
    /// "1 day", so with a session in London the window of 24 October 2026 (across the night the clocks go
    /// back) ran 25 h and counted complaints of the hour after it. Now it lasts the window's seconds.
    @Test("a day-long comparison window across a clock change lasts 24 h whatever the session's time zone")
    func dayWindowAcrossTheChangeInALondonSession() async throws {
        let utc = ISO8601DateFormatter()
        // 12:00 GMT on Sunday 1 November: the window is the 24 h before; week 1's runs from 12:00 BST on
        // 24 October (11:00 UTC) to 11:00 UTC on the 25th (11:00 GMT), across the change.
        let now = try #require(utc.date(from: "2026-11-01T12:00:00Z"))
        try await withMigratedSchema(of: RedressService.metrics.isolated()) { store, _ in
            var rules = MetricsSettings.EarlyWarning()
            rules.window = 86_400
            let settings = {
                var settings = MetricsHarness.settings
                settings.earlyWarning = rules
                return settings
            }()
            let after = try #require(utc.date(from: "2026-10-25T11:10:00Z"))
            let measurements = try await store.write { connection, logger in
                // Ten maintenance complaints at midday of each comparison week's Saturday (11:00 UTC + 1 h)...
                for week in 1...4 {
                    let noon = now.addingTimeInterval(-Double(week) * 7 * 86_400 - 86_400)
                    for index in 0..<10 {
                        try await Self.insertComplaint(at: noon.addingTimeInterval(Double(index) * 60), connection: connection, logger: logger)
                    }
                }
                // ...and eight on 25 October between 11:10 and 11:50 UTC: after week 1's 24 h, inside a 25 h window.
                for index in 0..<8 {
                    try await Self.insertComplaint(at: after.addingTimeInterval(Double(index) * 300), connection: connection, logger: logger)
                }
                // For this transaction only: the pooled connection goes back to the store as it was.
                try await connection.query("SET LOCAL TIME ZONE 'Europe/London'", logger: logger)
                let measured = try await AlertMeasurements(settings: settings, now: now)
                    .spikes(hotels: [MetricsHarness.london], on: connection, logger: logger)
                return (measured, [])
            }
            let spike = try #require(measurements.first { $0.hotelID == "LON-KX02" && $0.subject == "maintenance" })
            #expect(spike.baseline == 10, "ten a week, not the hour after week 1's window too: \(spike)")
        }
    }

    static func insertComplaint(at registeredAt: Date, connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            INSERT INTO complaints (complaint_id, hotel_id, registered_at, category)
            VALUES (\(UUID()), 'LON-KX02', \(registeredAt), 'maintenance')
            """, logger: logger)
    }
}
