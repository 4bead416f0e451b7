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

    /// Intake answering 503 to the first look-up, then the guest as ``Guest``.
    final class IntakeFailingOnce: GuestContactSource {
        let calls = Mutex(0)
        func contact(for complaintID: UUID, logger: Logger) async throws -> GuestContact {
            if calls.withLock({ $0 += 1; return $0 }) == 1 {
                throw DeliveryFailure.transient("guest_contact_unavailable", "intake answered 503")
            }
            return try await Guest().contact(for: complaintID, logger: logger)
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

    /// Handles `events` (received, resolved, followup) for `complaint` through handlers planning with `rules`;
    /// each event happened when it is handled, or at `times` (one per event).
    static func handle(
        _ events: [String], complaint: UUID, rules: NotificationRules, store: StageStore, schema: SchemaName, at times: [Date]? = nil
    ) async throws {
        let recorder = NotificationRecorder(
            planner: NotificationPlanner(rules: LiveConfiguration(name: "rules", fixed: rules), templates: try NotifierFixtures.templates()))
        for (index, name) in events.enumerated() {
            let time = times?[index] ?? Date()
            switch name {
            case "received":
                var event = try EventFixtures.received(complaintID: complaint)
                event.time = time
                // Reported a few minutes before it was registered (the example's 2025 report is past guestMessages.maximumAge).
                event.data.reportedAt = time.addingTimeInterval(-300)
                _ = try await handleDirectly(event, with: ReceivedNotificationHandler(recorder: recorder), store: store, schema: schema)
            case "resolved":
                var event = try NotifierFixtures.resolved(complaint)
                event.time = time
                _ = try await handleDirectly(event, with: UpdatedNotificationHandler(recorder: recorder), store: store, schema: schema)
            default:
                var event = try NotifierFixtures.followUpDue(complaint)
                event.time = time
                _ = try await handleDirectly(event, with: SLANotificationHandler(recorder: recorder), store: store, schema: schema)
            }
        }
    }

    /// The quiet hours end: what is held falls due (the stored times moved back) and a guest worker with
    /// the morning's rules sends it; returns the templates sent, in order.
    /// Two workers (two replicas) claim what falls due together, one message at a time each, so the two
    /// messages of a complaint are decided at once by different workers. Settled when nothing is due within
    /// the next minute (a survey without its secret retries after 5 min).
    /// `late`: the workers start 20 min after the quiet hours ended (an outage), everything due since then.
    static func morning(
        status: String = "resolved", surveySecret: String? = "secret", late: Bool = false, schema: SchemaName, client: PostgresClient
    ) async throws -> [String] {
        for table in ["work_queue", "deliveries"] {
            _ = try await client.query(
                PostgresQuery(unsafeSQL: """
                    UPDATE \(schema).\(table) SET due_at = now() - interval '\(late ? 20 : 0) minutes' WHERE status IN ('pending', 'deferred')
                    """), logger: .complaintTest
            ).collect()
        }
        let mail = SentMail()
        let performer = try Self.morningPerformer(channel: mail, guests: Guest(status: status), surveySecret: surveySecret, schema: schema, client: client)
        let workers = (0..<2).map { _ in DeliveryWorkerTests.worker(performer, schema: schema, client: client, concurrency: 1) }
        try await withRunningServices(workers) {
            let settled = try await eventually(timeout: .seconds(20)) {
                try await client.query(
                    PostgresQuery(unsafeSQL: "SELECT count(*)::int FROM \(schema).work_queue WHERE status = 'pending' AND due_at < now() + interval '1 minute'"),
                    logger: .complaintTest
                ).collect()[0].decode(Int.self) == 0
            }
            #expect(settled)
        }
        return mail.sent.withLock { $0 }
    }

    /// A guest worker's performer with the morning's rules (quiet hours over), e-mail through `channel`.
    static func morningPerformer(
        channel: any NotificationChannel, guests: any GuestContactSource, surveySecret: String?, schema: SchemaName, client: PostgresClient
    ) throws -> DeliveryPerformer {
        DeliveryPerformer(
            kind: .guest, rules: LiveConfiguration(name: "rules", fixed: try rules(night: false)), templates: try NotifierFixtures.templates(),
            channels: [.email: channel], guests: guests, surveySecret: surveySecret, pacer: EndpointPacer(client: client, schema: schema))
    }

    /// Makes the held messages fall due now, 'received' `receivedAfter` and the others `othersAfter` from now
    /// (an interval, '0.5 seconds'), in the work queue and in `deliveries` alike.
    static func dueNow(received receivedAfter: String, others othersAfter: String, schema: SchemaName, client: PostgresClient) async throws {
        for table in ["work_queue", "deliveries"] {
            _ = try await client.query(PostgresQuery(unsafeSQL: """
                UPDATE \(schema).\(table) SET due_at = now() + CASE WHEN \(table == "work_queue" ? "payload->>'trigger'" : "trigger") = 'received'
                    THEN interval '\(receivedAfter)' ELSE interval '\(othersAfter)' END
                """), logger: .complaintTest).collect()
        }
    }

    /// The rule of the message each of the complaint's messages is marked as superseded by, oldest first.
    static func supersededBy(_ complaint: UUID, store: StageStore) async throws -> [String?] {
        try await store.read { connection, logger in
            try await connection.query("""
                SELECT later.rule FROM deliveries AS held LEFT JOIN deliveries AS later ON later.notification_id = held.superseded_by
                WHERE held.complaint_id = \(complaint) ORDER BY held.created_at, held.rule
                """, logger: logger
            ).collect().map { try $0.decode(String?.self) }
        }
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
            // Only recorded at night: decided in the morning, when "resolved" may no longer apply.
            #expect(night.map(\.status) == ["pending", "pending"], "\(night)")
            #expect(try await Self.supersededBy(complaint, store: store) == ["guest-resolved", nil])

            let sent = try await Self.morning(schema: service.schema, client: client)
            #expect(sent == ["complaint_resolved_guest"], "not 'received' then 'resolved' at once")
            let rows = try await Self.deliveries(complaint, store: store)
            #expect(rows.map(\.status) == ["given_up", "delivered"], "\(rows)")
            #expect(rows.first?.error?.hasPrefix("[superseded_by_resolved]") == true, "\(rows)")
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
            // The registration is superseded by the resolution's message, that one by the survey.
            #expect(try await Self.supersededBy(complaint, store: store) == ["guest-resolved", "guest-survey", nil])
            let sent = try await Self.morning(schema: service.schema, client: client)
            #expect(sent == ["followup_survey_guest"])
            let rows = try await Self.deliveries(complaint, store: store)
            #expect(rows.map(\.status) == ["given_up", "given_up", "delivered"], "\(rows)")
            #expect(rows.map { $0.error.map { DeliveryFailure.parse($0).code } } == ["superseded_by_resolved", "superseded_by_followup_due", nil], "\(rows)")
        }
    }

    @Test("a message already sent is not affected: 'received' sent by day, 'resolved' held at night, both stay")
    func sentMessagesStay() async throws {
        let service = RedressService.notifier.isolated()
        try await withMigratedSchema(of: service) { store, client in
            let complaint = UUID()
            try await Self.handle(["received"], complaint: complaint, rules: try Self.rules(night: false), store: store, schema: service.schema)
            #expect(try await Self.morning(status: "assigned", schema: service.schema, client: client) == ["complaint_received_guest"])
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
            #expect(try await Self.supersededBy(complaint, store: store) == ["guest-resolved", nil])
            #expect(try await Self.morning(schema: service.schema, client: client) == ["complaint_resolved_guest"])
            let rows = try await Self.deliveries(complaint, store: store)
            #expect(rows.map(\.status) == ["given_up", "delivered"], "\(rows)")
            #expect(rows.first?.error?.hasPrefix("[superseded_by_resolved]") == true)
        }
    }

    @Test("registered, resolved and reopened in one night: in the morning 'received' is sent and 'resolved' given up as no longer applicable")
    func reopenedBeforeMorning() async throws {
        let service = RedressService.notifier.isolated()
        try await withMigratedSchema(of: service) { store, client in
            let complaint = UUID()
            try await Self.handle(["received", "resolved"], complaint: complaint, rules: try Self.rules(night: true), store: store, schema: service.schema)
            // Reopened at 01:00 (no guest rule for it): intake shows the complaint reopened in the morning.
            let sent = try await Self.morning(status: "reopened", schema: service.schema, client: client)
            #expect(sent == ["complaint_received_guest"], "the guest hears that the complaint is registered, not nothing")
            let rows = try await Self.deliveries(complaint, store: store)
            #expect(rows.map(\.status) == ["delivered", "given_up"], "\(rows)")
            #expect(rows.last?.error?.hasPrefix("[no_longer_applicable]") == true, "\(rows)")
        }
    }

    @Test("a survey that cannot be sent (no survey secret) does not take the held 'resolved' with it")
    func surveyNotSent() async throws {
        let service = RedressService.notifier.isolated()
        try await withMigratedSchema(of: service) { store, client in
            let complaint = UUID()
            try await Self.handle(
                ["received", "resolved", "followup"], complaint: complaint, rules: try Self.rules(night: true), store: store, schema: service.schema)
            let sent = try await Self.morning(surveySecret: nil, schema: service.schema, client: client)
            #expect(sent == ["complaint_resolved_guest"], "the resolution's message goes; the registration stays superseded by it")
            let rows = try await Self.deliveries(complaint, store: store)
            #expect(rows.map(\.status) == ["given_up", "delivered", "retrying"], "\(rows)")
        }
    }

    @Test("'resolved' planned before 'received' (separate topics after an outage): only 'resolved' is sent")
    func resolvedPlannedFirst() async throws {
        let service = RedressService.notifier.isolated()
        try await withMigratedSchema(of: service) { store, client in
            let complaint = UUID()
            // Registered a minute before the resolution; the resolution's event was handled first.
            try await Self.handle(
                ["resolved", "received"], complaint: complaint, rules: try Self.rules(night: true), store: store, schema: service.schema,
                at: [Date(), Date().addingTimeInterval(-60)])
            #expect(try await Self.morning(schema: service.schema, client: client) == ["complaint_resolved_guest"])
            let rows = try await Self.deliveries(complaint, store: store)
            #expect(rows.map(\.rule) == ["guest-resolved", "guest-registered"])
            #expect(rows.map(\.status) == ["delivered", "given_up"], "\(rows)")
            #expect(rows.last?.error?.hasPrefix("[superseded_by_resolved]") == true, "\(rows)")
        }
    }

    @Test("a held message that already made an attempt (failed, then held for quiet hours) is not superseded")
    func attemptedMessageStays() async throws {
        let service = RedressService.notifier.isolated()
        try await withMigratedSchema(of: service) { store, client in
            let complaint = UUID()
            try await Self.handle(["received"], complaint: complaint, rules: try Self.rules(night: true), store: store, schema: service.schema)
            // Its first call failed; the retry fell into the quiet hours and was deferred, its attempt kept.
            _ = try await client.query(PostgresQuery(unsafeSQL: """
                UPDATE \(service.schema).work_queue SET attempts = 1, last_error = '[quiet_hours] held until the hotel''s quiet hours end'
                """), logger: .complaintTest).collect()
            _ = try await client.query(PostgresQuery(unsafeSQL: """
                UPDATE \(service.schema).deliveries SET status = 'deferred', attempts = 1, last_error = '[quiet_hours] held until the hotel''s quiet hours end'
                """), logger: .complaintTest).collect()
            try await Self.handle(["resolved"], complaint: complaint, rules: try Self.rules(night: true), store: store, schema: service.schema)
            #expect(try await Self.supersededBy(complaint, store: store) == [nil, nil])
            let rows = try await Self.deliveries(complaint, store: store)
            #expect(rows.map(\.status) == ["deferred", "pending"], "\(rows)")
            let sent = try await Self.morning(schema: service.schema, client: client)
            // Not superseded: given up because intake shows the complaint resolved ("someone will look after
            // it" is no longer true), as it would be without the later message.
            #expect(sent == ["complaint_resolved_guest"])
            let settled = try await Self.deliveries(complaint, store: store)
            #expect(settled.map(\.status) == ["given_up", "delivered"], "\(settled)")
            #expect(settled.first?.error?.hasPrefix("[no_longer_applicable]") == true, "\(settled)")
        }
    }

    @Test("a superseder whose outcome never reached deliveries (settled in the work queue alone) does not hold the registration for ever")
    func stuckSuperseder() async throws {
        let service = RedressService.notifier.isolated()
        try await withMigratedSchema(of: service) { store, client in
            let complaint = UUID()
            try await Self.handle(["received", "resolved"], complaint: complaint, rules: try Self.rules(night: true), store: store, schema: service.schema)
            _ = try await client.query(PostgresQuery(unsafeSQL: """
                UPDATE \(service.schema).work_queue SET status = 'failed', completed_at = now() WHERE payload->>'trigger' = 'updated.resolved'
                """), logger: .complaintTest).collect()
            _ = try await client.query(PostgresQuery(unsafeSQL: """
                UPDATE \(service.schema).deliveries SET due_at = now() - interval '20 minutes' WHERE rule = 'guest-resolved'
                """), logger: .complaintTest).collect()
            let mail = SentMail()
            // Reopened meanwhile: a registration is not sent once intake shows the complaint resolved.
            let performer = try Self.morningPerformer(
                channel: mail, guests: Guest(status: "reopened"), surveySecret: "secret", schema: service.schema, client: client)
            _ = try await client.query(
                PostgresQuery(unsafeSQL: "UPDATE \(service.schema).work_queue SET due_at = now() WHERE status = 'pending'"), logger: .complaintTest
            ).collect()
            try await withRunningServices([DeliveryWorkerTests.worker(performer, schema: service.schema, client: client)]) {
                let sent = try await eventually(timeout: .seconds(20)) { mail.sent.withLock { $0 } == ["complaint_received_guest"] }
                #expect(sent, "\(mail.sent.withLock { $0 })")
            }
        }
    }

    @Test("resolved, surveyed the next day, reopened and resolved again at night: the second 'resolved' is not superseded by the earlier survey")
    func resolvedAgainAfterSurvey() async throws {
        let service = RedressService.notifier.isolated()
        try await withMigratedSchema(of: service) { store, client in
            let complaint = UUID()
            try await Self.handle(["resolved"], complaint: complaint, rules: try Self.rules(night: false), store: store, schema: service.schema)
            #expect(try await Self.morning(schema: service.schema, client: client) == ["complaint_resolved_guest"])
            try await Self.handle(["followup"], complaint: complaint, rules: try Self.rules(night: false), store: store, schema: service.schema)
            #expect(try await Self.morning(schema: service.schema, client: client) == ["followup_survey_guest"])
            // Those were on Monday and Tuesday (the guest's minimum interval between messages is long past).
            _ = try await client.query(PostgresQuery(unsafeSQL: """
                UPDATE \(service.schema).deliveries SET created_at = created_at - interval '1 day' WHERE complaint_id = '\(complaint.uuidString.lowercased())'
                """), logger: .complaintTest).collect()
            // Reopened (no guest rule for it), resolved again at 23:30: held for the morning.
            try await Self.handle(["resolved"], complaint: complaint, rules: try Self.rules(night: true), store: store, schema: service.schema)
            #expect(try await Self.supersededBy(complaint, store: store) == [nil, nil, nil], "a survey caused before it supersedes nothing")
            #expect(try await Self.morning(schema: service.schema, client: client) == ["complaint_resolved_guest"])
            let rows = try await Self.deliveries(complaint, store: store)
            #expect(rows.map(\.status) == ["delivered", "delivered", "delivered"], "\(rows)")
        }
    }

    @Test("intake answers 503 once in the morning, 'received' falling due first: only 'resolved' is sent, 'received' given up")
    func supersededAfterFailedLookup() async throws {
        let service = RedressService.notifier.isolated()
        try await withMigratedSchema(of: service) { store, client in
            let complaint = UUID()
            try await Self.handle(["received", "resolved"], complaint: complaint, rules: try Self.rules(night: true), store: store, schema: service.schema)
            // "received" falls due first and meets intake's 503; "resolved" a second later.
            try await Self.dueNow(received: "0 seconds", others: "1 second", schema: service.schema, client: client)
            let mail = SentMail()
            let performer = try Self.morningPerformer(channel: mail, guests: IntakeFailingOnce(), surveySecret: "secret", schema: service.schema, client: client)
            try await withRunningServices([DeliveryWorkerTests.worker(performer, schema: service.schema, client: client, concurrency: 1)]) {
                let settled = try await eventually(timeout: .seconds(20)) {
                    try await Self.deliveries(complaint, store: store).map(\.status) == ["given_up", "delivered"]
                }
                #expect(settled)
            }
            #expect(mail.sent.withLock { $0 } == ["complaint_resolved_guest"], "not both messages")
            let rows = try await Self.deliveries(complaint, store: store)
            #expect(rows.first?.error?.hasPrefix("[superseded_by_resolved]") == true, "\(rows)")
        }
    }

    /// An e-mail channel whose first 'resolved' fails (retried after 1 s).
    final class ResolvedFailingOnce: NotificationChannel {
        let mail = SentMail()
        let failed = Mutex(false)
        var channels: [DeliveryChannel] { [.email] }
        func send(_ message: OutgoingMessage, logger: Logger) async throws -> String {
            if message.intent.template == "complaint_resolved_guest", !failed.withLock({ failed in
                let before = failed
                failed = true
                return before
            }) {
                throw DeliveryFailure.transient("smtp_unavailable", "the mail server did not answer", retryAfter: .seconds(1))
            }
            return try await mail.send(message, logger: logger)
        }
    }

    /// Intake answering 503 to its `failing` look-up (retried after 3 s), then the guest as ``Guest``.
    final class IntakeFailingAt: GuestContactSource {
        let failing: Int
        let calls = Mutex(0)
        init(_ failing: Int) { self.failing = failing }
        func contact(for complaintID: UUID, logger: Logger) async throws -> GuestContact {
            if calls.withLock({ $0 += 1; return $0 }) == failing {
                throw DeliveryFailure.transient("guest_contact_unavailable", "intake answered 503", retryAfter: .seconds(3))
            }
            return try await Guest().contact(for: complaintID, logger: logger)
        }
    }

    @Test("'resolved' fails a call, so the held 'received' goes, meets intake's 503; 'resolved' is then delivered: 'received' is given up, its receipts end")
    func supersededOnLaterAttempt() async throws {
        let service = RedressService.notifier.isolated()
        try await withMigratedSchema(of: service) { store, client in
            let complaint = UUID()
            try await Self.handle(["received", "resolved"], complaint: complaint, rules: try Self.rules(night: true), store: store, schema: service.schema)
            // "resolved" falls due first (its call fails, again after 1 s), "received" half a second later (intake's 503, again after 3 s).
            try await Self.dueNow(received: "0.5 seconds", others: "0 seconds", schema: service.schema, client: client)
            let channel = ResolvedFailingOnce()
            let performer = try Self.morningPerformer(channel: channel, guests: IntakeFailingAt(2), surveySecret: "secret", schema: service.schema, client: client)
            try await withRunningServices([DeliveryWorkerTests.worker(performer, schema: service.schema, client: client, concurrency: 1)]) {
                let settled = try await eventually(timeout: .seconds(20)) {
                    try await Self.deliveries(complaint, store: store).map(\.status) == ["given_up", "delivered"]
                }
                #expect(settled)
            }
            #expect(channel.mail.sent.withLock { $0 } == ["complaint_resolved_guest"], "not both messages")
            let rows = try await Self.deliveries(complaint, store: store)
            #expect(rows.first?.error?.hasPrefix("[superseded_by_resolved]") == true, "\(rows)")
            // The failed attempt published a receipt: the registration's receipts end with a given-up one.
            let receipts = try await DeliveryWorkerTests.receipts(schema: service.schema, client: client)
                .filter { $0.template == "complaint_received_guest" }
            #expect(receipts.map(\.status.kind) == [.failed, .givenUp], "\(receipts)")
            #expect(receipts.last?.attempts == 1)
        }
    }

    @Test("both held, the workers start 20 min after the quiet hours ended: only 'resolved' is sent")
    func lateMorning() async throws {
        let service = RedressService.notifier.isolated()
        try await withMigratedSchema(of: service) { store, client in
            let complaint = UUID()
            try await Self.handle(["received", "resolved"], complaint: complaint, rules: try Self.rules(night: true), store: store, schema: service.schema)
            #expect(try await Self.morning(late: true, schema: service.schema, client: client) == ["complaint_resolved_guest"])
            let rows = try await Self.deliveries(complaint, store: store)
            #expect(rows.map(\.status) == ["given_up", "delivered"], "\(rows)")
        }
    }

    @Test("a superseder delivered but recorded in the work queue alone (deliveries still pending, or retrying after a failed first attempt): the held 'received' is given up",
          arguments: ["pending", "retrying"])
    func supersederSucceededInWorkQueue(_ supersederRow: String) async throws {
        let service = RedressService.notifier.isolated()
        try await withMigratedSchema(of: service) { store, client in
            let complaint = UUID()
            try await Self.handle(["received", "resolved"], complaint: complaint, rules: try Self.rules(night: true), store: store, schema: service.schema)
            _ = try await client.query(PostgresQuery(unsafeSQL: """
                UPDATE \(service.schema).work_queue SET status = 'succeeded', completed_at = now() WHERE payload->>'trigger' = 'updated.resolved'
                """), logger: .complaintTest).collect()
            _ = try await client.query(PostgresQuery(unsafeSQL: """
                UPDATE \(service.schema).deliveries SET status = '\(supersederRow)' WHERE complaint_id = '\(complaint)' AND trigger = 'updated.resolved'
                """), logger: .complaintTest).collect()
            let sent = try await Self.morning(schema: service.schema, client: client)
            #expect(sent.isEmpty, "'resolved' went already; \(sent)")
            let rows = try await Self.deliveries(complaint, store: store)
            #expect(rows.map(\.status) == ["given_up", supersederRow], "\(rows)")
            #expect(rows.first?.error?.hasPrefix("[superseded_by_resolved]") == true, "\(rows)")
        }
    }

    @Test("which other guest messages supersede one planned later",
          arguments: [("received", ["updated.resolved", "sla.followup_due"]), ("updated.resolved", ["sla.followup_due"]),
                      ("sla.followup_due", [String]()), ("updated.reopened", [])])
    func supersedingTriggers(_ earlier: String, _ later: [String]) {
        #expect(HeldGuestMessages.supersedingTriggers(of: earlier) == later)
    }

    @Test("which held guest messages a later one supersedes",
          arguments: [("received", [String]()), ("updated.resolved", ["received", "updated.resolved"]),
                      ("sla.followup_due", ["received", "updated.resolved", "sla.followup_due"]), ("updated.reopened", [])])
    func supersededTriggers(_ later: String, _ earlier: [String]) {
        #expect(HeldGuestMessages.supersededTriggers(by: later) == earlier)
    }
}
