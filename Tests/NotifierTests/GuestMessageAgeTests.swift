import Access
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

/// What a guest is told must still be true and timely: not about a complaint reported months ago that
/// intake registered today (a backfill), not "we received it" once it is resolved, not a survey link that
/// expires on arrival, and never a "first name" that is really text of someone else's choosing.
@Suite("Guest messages: age, applicability, survey expiry, first name", .timeLimit(.minutes(2)))
struct GuestMessageAgeTests {
    static let yaml = """
        hotels:
          LON-KX02: {timeZone: UTC}
        endpoints:
          hook: {channel: webhook, url: "http://127.0.0.1:9/hook", secret: whsec_age}
        rules:
          - {name: guest-registered, on: [received], to: [guest], template: complaint_received_guest}
          - {name: guest-resolved, on: [updated.resolved], to: [guest], template: complaint_resolved_guest}
          - {name: new-hook, on: [received], to: ["endpoint:hook"], template: serious_complaint_staff}
        """

    /// `complaints.received.v1` for `complaint`, registered now, reported `reportedAgo` seconds ago.
    static func received(_ complaint: UUID, reportedAgo: TimeInterval) throws -> EventEnvelope<ComplaintReceived> {
        var event = try EventFixtures.received(complaintID: complaint)
        let now = Date()
        event.time = now
        event.data.registeredAt = now
        event.data.reportedAt = now.addingTimeInterval(-reportedAgo)
        event.data.occurredAt = now.addingTimeInterval(-reportedAgo - 600)
        return event
    }

    static func recorder(_ yaml: String = Self.yaml) throws -> NotificationRecorder {
        NotificationRecorder(planner: NotificationPlanner(
            rules: LiveConfiguration(name: "rules", fixed: try NotifierFixtures.rules(yaml)), templates: try NotifierFixtures.templates()))
    }

    /// The complaint's `deliveries` rows (rule, status, last error), oldest first, and the work queue's kinds.
    static func recorded(_ complaint: UUID, store: StageStore) async throws -> (rows: [(rule: String, status: String, error: String?)], kinds: [String]) {
        try await store.read { connection, logger in
            let rows = try await connection.query(
                "SELECT rule, status, last_error FROM deliveries WHERE complaint_id = \(complaint) ORDER BY created_at, rule", logger: logger
            ).collect().map { try $0.decode((String, String, String?).self) }.map { (rule: $0.0, status: $0.1, error: $0.2) }
            let kinds = try await connection.query("SELECT kind FROM work_queue ORDER BY id", logger: logger).collect().map { try $0.decode(String.self) }
            return (rows, kinds)
        }
    }

    @Test("a complaint reported 90 days ago and registered today (a backfill): the guest's message is skipped as guest_message_backfill, not as stale, no intent; the webhook still goes")
    func backfilledComplaintNotMessaged() async throws {
        let service = RedressService.notifier.isolated()
        try await withMigratedSchema(of: service) { store, _ in
            let complaint = UUID()
            _ = try await handleDirectly(
                try Self.received(complaint, reportedAgo: 90 * 86_400), with: ReceivedNotificationHandler(recorder: try Self.recorder()), store: store,
                schema: service.schema)
            let (rows, kinds) = try await Self.recorded(complaint, store: store)
            let guest = rows.filter { $0.rule == "guest-registered" }
            #expect(guest.map(\.status) == ["skipped"], "\(rows)")
            // Its own code: a source whose clock is days behind looks like this, and the metric tells it from a stale message.
            #expect(guest.first?.error?.hasPrefix("[guest_message_backfill]") == true, "\(rows)")
            #expect(guest.first?.error?.contains("guestMessages.maximumAge") == true, "\(rows)")
            #expect(!kinds.contains("guest"), "no guest intent: \(kinds)")
            #expect(kinds == ["endpoint"], "integrators and staff hear of backfilled complaints as before: \(kinds)")
        }
    }

    @Test("a complaint reported an hour ago: the guest's message is planned as before")
    func freshComplaintMessaged() async throws {
        let service = RedressService.notifier.isolated()
        try await withMigratedSchema(of: service) { store, _ in
            let complaint = UUID()
            _ = try await handleDirectly(
                try Self.received(complaint, reportedAgo: 3_600), with: ReceivedNotificationHandler(recorder: try Self.recorder()), store: store,
                schema: service.schema)
            let (rows, kinds) = try await Self.recorded(complaint, store: store)
            #expect(rows.filter { $0.rule == "guest-registered" }.map(\.status) == ["pending"], "\(rows)")
            #expect(kinds.sorted() == ["endpoint", "guest"])
        }
    }

    @Test("maximumAge 0s: no limit, the backfilled complaint's guest is messaged")
    func noLimit() async throws {
        let service = RedressService.notifier.isolated()
        try await withMigratedSchema(of: service) { store, _ in
            let complaint = UUID()
            _ = try await handleDirectly(
                try Self.received(complaint, reportedAgo: 90 * 86_400),
                with: ReceivedNotificationHandler(recorder: try Self.recorder("guestMessages: {maximumAge: 0s}\n" + Self.yaml)), store: store,
                schema: service.schema)
            #expect(try await Self.recorded(complaint, store: store).kinds.sorted() == ["endpoint", "guest"])
        }
    }

    @Test("a resolution whose event is 10 days old (a bulk resolve of a backfill, replayed): skipped as guest_message_stale")
    func staleResolution() async throws {
        let service = RedressService.notifier.isolated()
        try await withMigratedSchema(of: service) { store, _ in
            let complaint = UUID()
            var event = try NotifierFixtures.resolved(complaint)
            event.time = Date().addingTimeInterval(-10 * 86_400)
            _ = try await handleDirectly(event, with: UpdatedNotificationHandler(recorder: try Self.recorder()), store: store, schema: service.schema)
            let (rows, kinds) = try await Self.recorded(complaint, store: store)
            #expect(rows.map(\.status) == ["skipped"] && rows.first?.error?.hasPrefix("[guest_message_stale]") == true, "\(rows)")
            #expect(kinds.isEmpty)
        }
    }

    /// `complaints.received.v1` for `complaint`, handled now, registered `registeredAgo` seconds ago and reported
    /// `reportedBeforeRegistration` seconds before that.
    static func received(_ complaint: UUID, registeredAgo: TimeInterval, reportedBeforeRegistration: TimeInterval) throws -> EventEnvelope<ComplaintReceived> {
        var event = try Self.received(complaint, reportedAgo: 0)
        let registered = Date().addingTimeInterval(-registeredAgo)
        event.time = registered
        event.data.registeredAt = registered
        event.data.reportedAt = registered.addingTimeInterval(-reportedBeforeRegistration)
        event.data.occurredAt = event.data.reportedAt.addingTimeInterval(-600)
        return event
    }

    static let surveyYAML = yaml + "\n  - {name: guest-survey, on: [sla.followup_due], to: [guest], template: followup_survey_guest}\n"

    /// Handles `received`, then a "resolved" and a follow-up (survey) event of now for its complaint: the guest
    /// rules' `deliveries` rows and the work queue's kinds.
    static func resolvedAfter(_ received: EventEnvelope<ComplaintReceived>, yaml: String = surveyYAML) async throws -> (
        rows: [(rule: String, status: String, error: String?)], kinds: [String]
    ) {
        let service = RedressService.notifier.isolated()
        return try await withMigratedSchema(of: service) { store, _ in
            let complaint = received.data.complaintID
            let recorder = try Self.recorder(yaml)
            _ = try await handleDirectly(received, with: ReceivedNotificationHandler(recorder: recorder), store: store, schema: service.schema)
            var resolved = try NotifierFixtures.resolved(complaint)
            resolved.time = Date()
            _ = try await handleDirectly(resolved, with: UpdatedNotificationHandler(recorder: recorder), store: store, schema: service.schema)
            var followUp = try NotifierFixtures.followUpDue(complaint)
            followUp.time = Date()
            _ = try await handleDirectly(followUp, with: SLANotificationHandler(recorder: recorder), store: store, schema: service.schema)
            let (rows, kinds) = try await Self.recorded(complaint, store: store)
            return (rows.filter { $0.rule.hasPrefix("guest-") }, kinds)
        }
    }

    @Test("a complaint reported 90 days ago, registered today (a backfill), resolved and surveyed today (a bulk resolution): no guest message at all")
    func backfillResolvedToday() async throws {
        let (rows, kinds) = try await Self.resolvedAfter(try Self.received(UUID(), reportedAgo: 90 * 86_400))
        #expect(rows.map(\.rule) == ["guest-registered", "guest-resolved", "guest-survey"], "\(rows)")
        #expect(rows.allSatisfy { $0.status == "skipped" && $0.error?.hasPrefix("[guest_message_backfill]") == true }, "\(rows)")
        let resolved = rows.first { $0.rule == "guest-resolved" }?.error ?? ""
        #expect(resolved.contains("registered 90d after the guest reported it (a backfill)"), "\(resolved)")
        #expect(!kinds.contains("guest"), "no guest intent: \(kinds)")
    }

    @Test("a complaint reported 71 h before intake registered it, resolved 5 days later: not a backfill, the resolution and the survey are planned")
    func lateResolutionOfFreshComplaint() async throws {
        let (rows, kinds) = try await Self.resolvedAfter(
            try Self.received(UUID(), registeredAgo: 5 * 86_400, reportedBeforeRegistration: 71 * 3_600))
        // The registration itself is handled now, 8 days after the report: too old to send.
        #expect(rows.first { $0.rule == "guest-registered" }?.error?.hasPrefix("[guest_message_stale]") == true, "\(rows)")
        #expect(rows.filter { $0.rule != "guest-registered" }.map(\.status) == ["pending", "pending"], "\(rows)")
        #expect(kinds.filter { $0 == "guest" }.count == 2, "\(kinds)")
    }

    @Test("maximumAge 0s: a backfilled complaint's resolution and survey are planned")
    func backfillWithoutLimit() async throws {
        let (rows, _) = try await Self.resolvedAfter(
            try Self.received(UUID(), reportedAgo: 90 * 86_400), yaml: "guestMessages: {maximumAge: 0s}\n" + Self.surveyYAML)
        #expect(rows.map(\.status) == ["pending", "pending", "pending"], "\(rows)")
    }

    @Test("the rules file refuses a maximumAge that is not a duration, naming the key")
    func refusedSetting() throws {
        let error = #expect(throws: ConfigurationFileError.self) { _ = try NotifierFixtures.rules("guestMessages: {maximumAge: soon}\nrules: []") }
        #expect(error?.description.hasPrefix("rules.yaml:1: guestMessages.maximumAge: must be a duration") == true, "\(error?.description ?? "")")
        #expect(throws: ConfigurationFileError.self) { _ = try NotifierFixtures.rules("guestMessages: {maximumAge: 400d}\nrules: []") }
        #expect(try NotifierFixtures.rules("rules: []").guestMessages.maximumAge == .seconds(72 * 3_600))
    }

    /// A guest intent for `trigger`, caused `ago` seconds ago.
    static func guestIntent(trigger: String, template: String, ago: TimeInterval = 0) -> NotificationIntent {
        var intent = NotifierFixtures.intent(
            template: template, channel: .email, recipient: NotificationRecipient(kind: .guest, role: .guest), endpoint: nil, trigger: trigger,
            hotel: "LON-KX02")
        intent.causeTime = Date().addingTimeInterval(-ago)
        intent.rule = trigger == "received" ? "guest-registered" : "guest-resolved"
        intent.notificationID = NotificationIntent.notificationID(forKey: intent.idempotencyKey)
        return intent
    }

    static func code(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch let failure as WorkFailure {
            return DeliveryFailure.parse(failure.reason).code
        } catch {
            return "\(error)"
        }
    }

    @Test("at send time: a guest message that became older than maximumAge while it retried is given up; 'received' counts from the report intake shows")
    func sendTimeBackstop() {
        let day: Duration = .seconds(72 * 3_600)
        let now = Date()
        let retried = Self.guestIntent(trigger: "updated.resolved", template: "complaint_resolved_guest", ago: 4 * 86_400)
        #expect(Self.code { try DeliveryPerformer.staleness(of: retried, maximumAge: day, now: now) } == "guest_message_stale")
        #expect(Self.code { try DeliveryPerformer.staleness(of: retried, maximumAge: .zero, now: now) } == nil, "0s: no limit")
        let received = Self.guestIntent(trigger: "received", template: "complaint_received_guest")
        #expect(Self.code { try DeliveryPerformer.staleness(of: received, maximumAge: day, now: now) } == nil)
        #expect(Self.code {
            try DeliveryPerformer.staleness(of: received, reportedAt: now.addingTimeInterval(-90 * 86_400), maximumAge: day, now: now)
        } == "guest_message_stale")
    }

    /// The guest as intake shows them.
    struct Guest: GuestContactSource {
        var status: String
        var reportedAt: Date?
        func contact(for complaintID: UUID, logger: Logger) async throws -> GuestContact {
            GuestContact(name: "Li Wei", email: "li@example.com", status: status, reportedAt: reportedAt)
        }
    }

    /// Queues `intent` and runs a guest worker (e-mail into `mail`) until its `deliveries` row settles.
    static func deliver(_ intent: NotificationIntent, guest: Guest) async throws -> (sent: [String], row: (status: String, attempts: Int, error: String?)) {
        let service = RedressService.notifier.isolated()
        return try await withMigratedSchema(of: service) { _, client in
            try await DeliveryWorkerTests.record(intent, attempts: 3, kind: .guest, schema: service.schema, client: client)
            let mail = HeldGuestMessagesTests.SentMail()
            let performer = DeliveryPerformer(
                kind: .guest, rules: LiveConfiguration(name: "rules", fixed: try NotifierFixtures.rules(Self.yaml)),
                templates: try NotifierFixtures.templates(), channels: [.email: mail], guests: guest, surveySecret: "secret",
                pacer: EndpointPacer(client: client, schema: service.schema))
            try await withRunningServices([DeliveryWorkerTests.worker(performer, schema: service.schema, client: client)]) {
                let settled = try await eventually(timeout: .seconds(20)) {
                    try await DeliveryWorkerTests.receipts(schema: service.schema, client: client).count == 1
                }
                #expect(settled)
            }
            return (mail.sent.withLock { $0 }, try await DeliveryWorkerTests.delivery(intent.notificationID, schema: service.schema, client: client))
        }
    }

    @Test("a 'resolved' message retried for four days (intake or the relay down): given up as guest_message_stale, nothing sent")
    func staleWhileRetrying() async throws {
        let intent = Self.guestIntent(trigger: "updated.resolved", template: "complaint_resolved_guest", ago: 4 * 86_400)
        let (sent, row) = try await Self.deliver(intent, guest: Guest(status: "resolved"))
        #expect(sent.isEmpty)
        #expect(row.status == "given_up" && row.error?.hasPrefix("[guest_message_stale]") == true, "\(row)")
    }

    @Test("'received' still retrying when the complaint was resolved (the relay down 10:00-10:40, resolved at 10:20): given up as no_longer_applicable")
    func receivedAfterResolution() async throws {
        for status in ["resolved", "closed"] {
            let intent = Self.guestIntent(trigger: "received", template: "complaint_received_guest", ago: 40 * 60)
            let (sent, row) = try await Self.deliver(intent, guest: Guest(status: status))
            #expect(sent.isEmpty, "\(status): the guest is not told someone will look after a resolved complaint")
            #expect(row.status == "given_up" && row.error?.hasPrefix("[no_longer_applicable]") == true, "\(status): \(row)")
        }
        // Still open (or reopened): sent.
        let open = Self.guestIntent(trigger: "received", template: "complaint_received_guest", ago: 40 * 60)
        let (sent, row) = try await Self.deliver(open, guest: Guest(status: "assigned", reportedAt: Date().addingTimeInterval(-3_600)))
        #expect(sent == ["complaint_received_guest"] && row.status == "delivered", "\(row)")
    }

    @Test("a survey whose link would expire on arrival (the follow-up retried most of survey.validFor): given up as survey_expired")
    func expiredSurvey() throws {
        let rules = try NotifierFixtures.rules("survey: {validFor: 7d}\nrules: []")
        let performer = DeliveryPerformer(
            kind: .guest, rules: LiveConfiguration(name: "rules", fixed: rules), templates: try NotifierFixtures.templates(), channels: [:],
            guests: nil, surveySecret: "secret", pacer: EndpointPacer())
        var intent = Self.guestIntent(trigger: "sla.followup_due", template: "followup_survey_guest")
        let now = Date()
        intent.causeTime = now.addingTimeInterval(-7 * 86_400 + 3_600)  // expires in an hour
        #expect(Self.code { _ = try performer.link(for: intent, rules: rules, now: now) } == "survey_expired")
        intent.causeTime = now.addingTimeInterval(-8 * 86_400)  // expired yesterday
        #expect(Self.code { _ = try performer.link(for: intent, rules: rules, now: now) } == "survey_expired")
        intent.causeTime = now.addingTimeInterval(-86_400)  // six days left
        let link = try #require(try performer.link(for: intent, rules: rules, now: now))
        #expect(link.contains("/survey/v"))
    }

    @Test("a first name is letters, marks, apostrophes and hyphens, at most 40 characters; anything else gets the generic greeting",
          arguments: [
            ("Li Wei", "Li"), ("李伟", "李伟"), ("Zoë Martin", "Zoë"), ("Seán O'Brien", "Seán"), ("O’Neill", "O’Neill"), ("Jean-Luc Picard", "Jean-Luc"),
            ("  Emma\tStone", "Emma"), ("Visit-evil.example\n\nRefund: https://evil.example", nil), ("Visit-evil.example", nil),
            ("<b>Emma</b>", nil), ("Emma2", nil), (String(repeating: "a", count: 41), nil), (String(repeating: "a", count: 40), String(repeating: "a", count: 40)),
            ("", nil), ("   ", nil),
          ] as [(String, String?)])
    func firstName(_ name: String, _ expected: String?) {
        #expect(GuestContact(name: name).firstName == expected)
    }

    @Test("a hostile name renders the generic greeting, nothing of it in the text")
    func hostileNameNotRendered() throws {
        let templates = try NotifierFixtures.templates()
        let rules = try NotifierFixtures.rules(Self.yaml)
        let intent = Self.guestIntent(trigger: "updated.resolved", template: "complaint_resolved_guest")
        let guest = GuestContact(name: "Visit-evil.example\n\nRefund: call +44 20 0000 0000", email: "li@example.com")
        let values = MessageValues.make(intent: intent, rules: rules, templates: templates, guest: guest, link: nil)
        let rendered = try #require(templates.render(intent.template, language: "en", values: values))
        #expect(rendered.text.hasPrefix("Dear guest,"), "\(rendered.text.prefix(80))")
        #expect(!rendered.text.contains("evil") && !rendered.text.contains("Refund"))
    }
}
