import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import Logging
@testable import Notifier
import PostgresNIO
import RdKafkaTestKit
import Synchronization
import Testing

/// A complaint registered and resolved in one night: both guest messages wait for the quiet hours to
/// end, and the guest got "we received your complaint" and "it is resolved" together in the morning.
@Suite("Guest messages held for quiet hours", .timeLimit(.minutes(2)))
struct HeldGuestMessagesTests {
    /// The guest as intake shows them in the morning.
    struct Guest: GuestContactSource {
        var status = "resolved"
        func contact(for complaintID: UUID, logger: Logger) async throws -> GuestContact {
            GuestContact(name: "Li Wei", email: "li@example.com", status: status)
        }
    }

    /// An e-mail channel that keeps the templates it was asked to send.
    final class SentMail: NotificationChannel {
        let sent = Mutex<[String]>([])
        var channels: [DeliveryChannel] { [.email] }
        func send(_ message: OutgoingMessage, logger: Logger) async throws -> String {
            sent.withLock { $0.append(message.intent.template) }
            return "email test-queue-id"
        }
    }

    /// The shipped guest rules for LON-KX02, with quiet hours around now (`night`) or none (the morning).
    static func rules(night: Bool) throws -> NotificationRules {
        try NotifierFixtures.rules("""
            hotels:
              LON-KX02: {timeZone: UTC\(night ? ", quietHours: \"\(DeferralTests.clock(-60))-\(DeferralTests.clock(60))\"" : "")}
            rules:
              - {name: guest-registered, on: [received], to: [guest], template: complaint_received_guest}
              - {name: guest-resolved, on: [updated.resolved], to: [guest], template: complaint_resolved_guest}
              - {name: guest-survey, on: [sla.followup_due], to: [guest], template: followup_survey_guest}
            """)
    }

    /// Handles `events` (received, resolved, followup) for `complaint` through handlers planning with `rules`.
    static func handle(_ events: [String], complaint: UUID, rules: NotificationRules, store: StageStore, schema: SchemaName) async throws {
        let recorder = NotificationRecorder(
            planner: NotificationPlanner(rules: LiveConfiguration(name: "rules", fixed: rules), templates: try NotifierFixtures.templates()))
        for name in events {
            switch name {
            case "received":
                _ = try await handleDirectly(
                    try EventFixtures.received(complaintID: complaint), with: ReceivedNotificationHandler(recorder: recorder), store: store, schema: schema)
            case "resolved":
                _ = try await handleDirectly(
                    try NotifierFixtures.resolved(complaint), with: UpdatedNotificationHandler(recorder: recorder), store: store, schema: schema)
            default:
                _ = try await handleDirectly(
                    try NotifierFixtures.followUpDue(complaint), with: SLANotificationHandler(recorder: recorder), store: store, schema: schema)
            }
        }
    }

    /// The quiet hours end: what is held falls due (the stored times moved back) and a guest worker with
    /// the morning's rules sends it; returns the templates sent, in order.
    static func morning(status: String = "resolved", schema: SchemaName, client: PostgresClient) async throws -> [String] {
        _ = try await client.query(
            PostgresQuery(unsafeSQL: "UPDATE \(schema).work_queue SET due_at = now() WHERE status = 'pending'"), logger: .complaintTest
        ).collect()
        let mail = SentMail()
        let performer = DeliveryPerformer(
            kind: .guest, rules: LiveConfiguration(name: "rules", fixed: try Self.rules(night: false)), templates: try NotifierFixtures.templates(),
            channels: [.email: mail], guests: Guest(status: status), surveySecret: "secret", pacer: EndpointPacer())
        try await withRunningServices([DeliveryWorkerTests.worker(performer, schema: schema, client: client)]) {
            let settled = try await eventually(timeout: .seconds(20)) {
                try await client.query(
                    PostgresQuery(unsafeSQL: "SELECT count(*)::int FROM \(schema).work_queue WHERE status = 'pending'"), logger: .complaintTest
                ).collect()[0].decode(Int.self) == 0
            }
            #expect(settled)
        }
        return mail.sent.withLock { $0 }
    }

    /// The complaint's guest messages in `deliveries`: rule, status and error, oldest first.
    static func deliveries(_ complaint: UUID, store: StageStore) async throws -> [(rule: String, status: String, error: String?)] {
        try await store.read { connection, logger in
            try await connection.query(
                "SELECT rule, status, last_error FROM deliveries WHERE complaint_id = \(complaint) ORDER BY created_at, rule", logger: logger
            ).collect().map { try $0.decode((String, String, String?).self) }
        }
    }

    @Test("registered and resolved in one night: the held 'received' is given up as superseded_by_resolved, the guest gets only 'resolved'")
    func resolvedSupersedesReceived() async throws {
        let service = RedressService.notifier.isolated()
        try await withMigratedSchema(of: service) { store, client in
            let complaint = UUID()
            try await Self.handle(["received", "resolved"], complaint: complaint, rules: try Self.rules(night: true), store: store, schema: service.schema)
            let night = try await Self.deliveries(complaint, store: store)
            #expect(night.map(\.rule) == ["guest-registered", "guest-resolved"])
            #expect(night.first?.status == "given_up", "\(night)")
            #expect(night.first?.error?.hasPrefix("[superseded_by_resolved]") == true, "\(night)")
            #expect(night.last?.status == "pending")

            let sent = try await Self.morning(schema: service.schema, client: client)
            #expect(sent == ["complaint_resolved_guest"], "not 'received' then 'resolved' at once")
            let rows = try await Self.deliveries(complaint, store: store)
            #expect(rows.map(\.status) == ["given_up", "delivered"], "\(rows)")
            let receipts = try await DeliveryWorkerTests.receipts(schema: service.schema, client: client)
            #expect(receipts.map(\.template) == ["complaint_resolved_guest"], "the superseded message made no attempt: no receipt")
        }
    }

    @Test("a survey falling due in the same night supersedes the held 'resolved', which superseded 'received'; only the survey is sent")
    func surveySupersedesResolved() async throws {
        let service = RedressService.notifier.isolated()
        try await withMigratedSchema(of: service) { store, client in
            let complaint = UUID()
            try await Self.handle(
                ["received", "resolved", "followup"], complaint: complaint, rules: try Self.rules(night: true), store: store, schema: service.schema)
            let rows = try await Self.deliveries(complaint, store: store)
            #expect(rows.map(\.status) == ["given_up", "given_up", "pending"], "\(rows)")
            // The registration went at the resolution, the resolution's message at the survey.
            #expect(rows.map { $0.error.map { DeliveryFailure.parse($0).code } } == ["superseded_by_resolved", "superseded_by_followup_due", nil], "\(rows)")
            let sent = try await Self.morning(schema: service.schema, client: client)
            #expect(sent == ["followup_survey_guest"])
        }
    }

    @Test("a message already sent is not affected: 'received' sent by day, 'resolved' held at night, both stay")
    func sentMessagesStay() async throws {
        let service = RedressService.notifier.isolated()
        try await withMigratedSchema(of: service) { store, client in
            let complaint = UUID()
            try await Self.handle(["received"], complaint: complaint, rules: try Self.rules(night: false), store: store, schema: service.schema)
            #expect(try await Self.morning(schema: service.schema, client: client) == ["complaint_received_guest"])
            try await Self.handle(["resolved"], complaint: complaint, rules: try Self.rules(night: true), store: store, schema: service.schema)
            let rows = try await Self.deliveries(complaint, store: store)
            #expect(rows.map(\.status) == ["delivered", "pending"], "\(rows)")
            #expect(try await Self.morning(schema: service.schema, client: client) == ["complaint_resolved_guest"])
        }
    }

    @Test("a 'resolved' message sent at once (an urgent rule) still supersedes the 'received' held for the morning")
    func urgentLaterMessage() async throws {
        let service = RedressService.notifier.isolated()
        try await withMigratedSchema(of: service) { store, client in
            let complaint = UUID()
            var rules = try Self.rules(night: true)
            try await Self.handle(["received"], complaint: complaint, rules: rules, store: store, schema: service.schema)
            rules.rules = rules.rules.map { rule in
                var rule = rule
                if rule.name == "guest-resolved" { rule.urgent = true }
                return rule
            }
            try await Self.handle(["resolved"], complaint: complaint, rules: rules, store: store, schema: service.schema)
            let rows = try await Self.deliveries(complaint, store: store)
            #expect(rows.map(\.status) == ["given_up", "pending"], "\(rows)")
            #expect(rows.first?.error?.hasPrefix("[superseded_by_resolved]") == true)
        }
    }

    @Test("which held guest messages a later one supersedes",
          arguments: [("received", [String]()), ("updated.resolved", ["received", "updated.resolved"]),
                      ("sla.followup_due", ["received", "updated.resolved", "sla.followup_due"]), ("updated.reopened", [])])
    func supersededTriggers(_ later: String, _ earlier: [String]) {
        #expect(HeldGuestMessages.supersededTriggers(by: later) == earlier)
    }
}
