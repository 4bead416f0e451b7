import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import Logging
@testable import Notifier
import PostgresNIO
import Synchronization
import Testing

/// A complaint reopened and resolved again and again: each resolution plans a "resolved" message and,
/// a day later, a survey. The guest's messages are bounded when they are planned.
@Suite("Guest messages bounded per complaint", .timeLimit(.minutes(2)))
struct GuestMessageLimitTests {
    static let yaml = """
        guestMessages: {maximumPerComplaint: 4, minimumInterval: 24h}
        hotels:
          LON-KX02: {}
        rules:
          - {name: guest-resolved, on: [updated.resolved], to: [guest], template: complaint_resolved_guest}
          - {name: guest-survey, on: [sla.followup_due], to: [guest], template: followup_survey_guest}
        """

    /// A fresh notifier schema and one complaint, with `deliver(kind, atHour:)` handing a resolution
    /// (`resolved`) or a follow-up (`followup`) to the stage `hours` after the start, on the planner's clock.
    static func withComplaint(
        _ body: (StageStore, UUID, _ deliver: (String, Double) async throws -> Void) async throws -> Void
    ) async throws {
        let service = RedressService.notifier.isolated()
        try await withMigratedSchema(of: service) { store, _ in
            let clock = Mutex(Date())
            var planner = NotificationPlanner(
                rules: LiveConfiguration(name: "rules", fixed: try NotifierFixtures.rules(Self.yaml)), templates: try NotifierFixtures.templates())
            planner.now = { clock.withLock { $0 } }
            let recorder = NotificationRecorder(planner: planner)
            let updated = UpdatedNotificationHandler(recorder: recorder), sla = SLANotificationHandler(recorder: recorder)
            let complaint = UUID()
            let start = clock.withLock { $0 }
            func deliver(_ kind: String, atHour hours: Double) async throws {
                clock.withLock { $0 = start.addingTimeInterval(hours * 3600) }
                // The event happens when it is handled (the examples' own times are long past: guestMessages.maximumAge).
                let now = clock.withLock { $0 }
                if kind == "resolved" {
                    var event = try NotifierFixtures.resolved(complaint)
                    event.time = now
                    _ = try await handleDirectly(event, with: updated, store: store, schema: service.schema)
                } else {
                    var event = try NotifierFixtures.followUpDue(complaint)
                    event.time = now
                    _ = try await handleDirectly(event, with: sla, store: store, schema: service.schema)
                }
            }
            try await body(store, complaint, deliver)
        }
    }

    @Test("a second 'resolved' within the interval and anything past the maximum are skipped, recorded with their code")
    func reopenAndResolveCycles() async throws {
        try await Self.withComplaint { store, complaint, deliver in
            try await deliver("resolved", 0)  // 1: told
            try await deliver("resolved", 1)  // reopened by mistake and resolved again: too soon
            try await deliver("followup", 25)  // 2: the survey
            try await deliver("resolved", 27)  // the guest was unhappy, fixed again: 3
            try await deliver("followup", 51)  // 4: a second survey, a day after the first
            try await deliver("resolved", 80)  // over the maximum

            let (queued, rows) = try await store.read { connection, logger in
                let queued = try await connection.query("SELECT count(*)::int FROM work_queue WHERE kind = 'guest'", logger: logger)
                    .collect()[0].decode(Int.self)
                let rows = try await connection.query(
                    "SELECT rule, status, last_error FROM deliveries WHERE complaint_id = \(complaint) ORDER BY created_at, rule", logger: logger
                ).collect().map { try $0.decode((String, String, String?).self) }
                return (queued, rows)
            }
            #expect(queued == 4, "four messages planned, not six")
            #expect(rows.map(\.1) == ["pending", "skipped", "pending", "pending", "pending", "skipped"], "\(rows)")
            let skipped = rows.filter { $0.1 == "skipped" }
            #expect(skipped.map(\.0) == ["guest-resolved", "guest-resolved"])
            #expect(skipped.first?.2?.hasPrefix("[guest_message_too_soon] rule guest-resolved") == true, "\(skipped)")
            #expect(skipped.last?.2?.hasPrefix("[guest_message_limit]") == true, "\(skipped)")
        }
    }

    @Test("a message given up never reached the guest: it does not count, so the next resolution's message is not 'too soon'")
    func givenUpDoesNotCount() async throws {
        try await Self.withComplaint { store, complaint, deliver in
            // Resolved; its message retried while the mail relay was down, then given up as no longer
            // applicable once the complaint was reopened; resolved again an hour later (the interval is 24 h).
            try await deliver("resolved", 0)
            try await store.write { connection, logger in
                _ = try await connection.query(
                    "UPDATE deliveries SET status = 'given_up', last_error = '[no_longer_applicable] reopened' WHERE complaint_id = \(complaint)",
                    logger: logger
                ).collect()
                return ((), [])
            }
            try await deliver("resolved", 1)
            let rows = try await store.read { connection, logger in
                try await connection.query(
                    "SELECT status, last_error FROM deliveries WHERE complaint_id = \(complaint) ORDER BY created_at", logger: logger
                ).collect().map { try $0.decode((String, String?).self) }
            }
            #expect(rows.map(\.0) == ["given_up", "pending"], "the guest hears it was fixed: \(rows)")
        }
    }

    @Test("the history takes a place per admitted message, per rule and in all")
    func admission() {
        let limits = NotificationRules.GuestMessageLimits(maximumPerComplaint: 3, minimumInterval: .seconds(3600))
        var history = GuestMessageHistory()
        let now = Date()
        #expect(history.admit(rule: "a", limits: limits, now: now) == nil)
        #expect(history.admit(rule: "a", limits: limits, now: now.addingTimeInterval(3599))?.code == "guest_message_too_soon")
        #expect(history.admit(rule: "b", limits: limits, now: now) == nil, "another rule has its own interval")
        #expect(history.admit(rule: "a", limits: limits, now: now.addingTimeInterval(3600)) == nil)
        #expect(history.admit(rule: "c", limits: limits, now: now)?.code == "guest_message_limit")
        var unbounded = GuestMessageHistory()
        let noInterval = NotificationRules.GuestMessageLimits(maximumPerComplaint: 2, minimumInterval: .zero)
        #expect(unbounded.admit(rule: "a", limits: noInterval, now: now) == nil)
        #expect(unbounded.admit(rule: "a", limits: noInterval, now: now) == nil, "0s: no interval")
    }
}
