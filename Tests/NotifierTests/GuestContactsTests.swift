import ComplaintEvents
import ComplaintPipeline
import ComplaintTesting
import Foundation
import Hummingbird
import Logging
@testable import Notifier
import Testing

/// Intake's answers to the guest-contact lookup, from a local HTTP server standing in for intake.
@Suite("Guest contact details from intake", .timeLimit(.minutes(1)))
struct GuestContactsTests {
    static let complaint = UUID()

    /// Answers with the status named at the end of the API key the test sends (`key-404` → 404).
    static var router: Router<BasicRequestContext> {
        let router = Router()
        router.get("/v1/complaints/:id") { request, _ -> Response in
            let key = request.headers[.authorization] ?? ""
            let status = Int(key.split(separator: "-").last ?? "") ?? 500
            let body = status == 200
                ? #"{"status":"reopened","guest":{"name":"Wang Fang","email":"wang@example.com","preferredContact":"none"}}"#
                : #"{"status":\#(status)}"#
            return Response(status: .init(code: status), body: .init(byteBuffer: .init(string: body)))
        }
        return router
    }

    @Test("200 gives the guest; 404 (the key does not cover the hotel) and 401/403 are retried, never given up")
    func answers() async throws {
        try await withLoopbackServer(Self.router) { base in
            func lookup(_ status: Int) async throws -> GuestContact {
                try await IntakeGuestContacts(baseURL: base, apiKey: "key-\(status)").contact(for: Self.complaint, logger: Logger(label: "test"))
            }
            let found = try await lookup(200)
            #expect(found.email == "wang@example.com")
            #expect(found.optedOut, "preferredContact none")
            #expect(found.status == "reopened")
            for (status, code) in [(404, "intake_not_visible"), (401, "intake_unauthorized"), (403, "intake_unauthorized"), (503, "intake_503")] {
                let failure = try await #require(throws: WorkFailure.self) { try await lookup(status) }
                #expect(!failure.isPermanent, "\(status) must be retried")
                #expect(failure.reason.hasPrefix("[\(code)]"), "\(failure.reason)")
            }
        }
    }

    /// The lookup used `HTTPClient.shared`, which follows redirects: the page a redirect landed on was read
    /// as the guest's contact (and a redirect within intake's origin took the key along).
    @Test("a redirect from intake is not followed: retried, naming where it points without its query; nothing asked there", arguments: [301, 302, 307, 308])
    func redirectNotFollowed(status: Int) async throws {
        let intake = RecordingReceiver()
        let elsewhere = RecordingReceiver()
        let path = "/v1/complaints/\(Self.complaint.uuidString.lowercased())"
        try await withLoopbackServer(elsewhere.router) { elsewhereBase in
            try await withLoopbackServer(intake.router) { base in
                let page = #"{"status":"resolved","guest":{"name":"Mallory","email":"mallory@example.com"}}"#
                elsewhere.script(.status(200, body: page), .status(200, body: page))
                intake.script(.redirect(status, to: elsewhereBase + path + "?token=secret-in-url"), .redirect(status, to: "/moved" + path))
                let contacts = IntakeGuestContacts(baseURL: base, apiKey: "key-200")
                let away = try await #require(throws: WorkFailure.self) { try await contacts.contact(for: Self.complaint, logger: .complaintTest) }
                #expect(!away.isPermanent, "retried: fixing INTAKE_URL brings the message back")
                #expect(away.reason.hasPrefix("[intake_\(status)] intake redirected to \(elsewhereBase)\(path)?… (its query left out): set INTAKE_URL"), "\(away.reason)")
                #expect(!away.reason.contains("secret-in-url"))
                // Within intake's origin, where AsyncHTTPClient would have sent the key along.
                let within = try await #require(throws: WorkFailure.self) { try await contacts.contact(for: Self.complaint, logger: .complaintTest) }
                #expect(!within.isPermanent)
                #expect(within.reason.hasPrefix("[intake_\(status)] intake redirected to \(base)/moved\(path):"), "\(within.reason)")
                #expect(intake.requests.map(\.path) == [path, path], "only the complaint itself is asked for: \(intake.requests.map(\.path))")
                #expect(intake.requests.allSatisfy { $0.headers["Authorization"] == "Bearer key-200" })
            }
            #expect(elsewhere.requests.isEmpty, "no call reaches where the redirect points: \(elsewhere.requests.map { "\($0.method) \($0.path) \($0.headers)" })")
        }
    }

    @Test("intake not listening: the lookup fails at once with intake_unreachable, not at its timeout")
    func refusedAtOnce() async throws {
        let contacts = IntakeGuestContacts(baseURL: "http://127.0.0.1:\(try unusedLoopbackPort())", apiKey: "key-200", timeout: .seconds(10))
        let started = ContinuousClock.now
        let refused = try await #require(throws: WorkFailure.self) { try await contacts.contact(for: Self.complaint, logger: .complaintTest) }
        #expect(!refused.isPermanent)
        #expect(refused.reason.hasPrefix("[intake_unreachable]"), "\(refused.reason)")
        #expect(ContinuousClock.now - started < .seconds(5), "a refused connection is not tried again until the 10 s timeout")
    }
}

/// What a guest message does when it is due: the guest's wishes and the complaint's state then, not
/// when it was planned, decide; channels this notifier cannot send by are passed over.
@Suite("Guest messages decided at send time")
struct GuestDestinationTests {
    static let gateway = Endpoint(name: "gw", channel: .sms, url: "http://127.0.0.1:9/sms")

    func intent(trigger: String, channels: [DeliveryChannel] = [.email, .sms]) -> NotificationIntent {
        var intent = NotifierFixtures.intent(
            template: "complaint_resolved_guest", channel: channels[0], recipient: NotificationRecipient(kind: .guest, role: .guest),
            endpoint: nil, trigger: trigger)
        intent.guestChannels = channels
        return intent
    }

    func code(_ body: () throws(WorkFailure) -> (DeliveryChannel, OutgoingMessage.Destination)) -> String? {
        do {
            _ = try body()
            return nil
        } catch {
            return DeliveryFailure.parse(error.reason).code
        }
    }

    @Test("a guest message due in the hotel's quiet hours (planned by day, delayed by retries) waits for the morning; an urgent rule's does not")
    func quietHoursAtSendTime() throws {
        let rules = try NotifierFixtures.rules("""
            hotels:
              SHA-PD01: {timeZone: Asia/Shanghai, quietHours: "22:00-08:00"}
            rules:
              - {name: guest-registered, on: [received], to: [guest], template: complaint_received_guest}
              - {name: guest-urgent, on: [received], to: [guest], template: complaint_received_guest, urgent: true}
            """)
        var intent = intent(trigger: "received")
        intent.rule = "guest-registered"
        let night = ISO8601DateFormatter().date(from: "2026-12-02T15:30:00Z")!  // 23:30 in Shanghai
        let noon = ISO8601DateFormatter().date(from: "2026-12-02T04:00:00Z")!
        #expect(DeliveryPerformer.quietHoursRelease(of: intent, rules: rules, now: night) == ISO8601DateFormatter().date(from: "2026-12-03T00:00:00Z"))
        #expect(DeliveryPerformer.quietHoursRelease(of: intent, rules: rules, now: noon) == nil)
        intent.rule = "guest-urgent"
        #expect(DeliveryPerformer.quietHoursRelease(of: intent, rules: rules, now: night) == nil)
    }

    @Test("a guest who has since asked not to be contacted gets nothing")
    func optedOut() {
        let contact = GuestContact(name: "Li Wei", email: "li@example.com", optedOut: true, status: "resolved")
        #expect(code { () throws(WorkFailure) in
            try DeliveryPerformer.guestDestination(for: intent(trigger: "updated.resolved"), contact: contact, configured: [.email], smsGateway: nil)
        } == "guest_opted_out")
    }

    @Test("a 'resolved' message or a survey held until morning is not sent once the complaint was reopened, a survey not once closed",
          arguments: [("updated.resolved", "reopened", "no_longer_applicable"), ("sla.followup_due", "closed", "no_longer_applicable"),
                      ("sla.followup_due", "reopened", "no_longer_applicable"), ("updated.resolved", "closed", nil),
                      ("sla.followup_due", "resolved", nil), ("received", "resolved", "no_longer_applicable"),
                      ("received", "closed", "no_longer_applicable"), ("received", "reopened", nil), ("received", "assigned", nil)])
    func stateMoved(_ trigger: String, _ status: String, _ expected: String?) {
        let contact = GuestContact(name: "Li Wei", email: "li@example.com", status: status)
        #expect(code { () throws(WorkFailure) in
            try DeliveryPerformer.guestDestination(for: intent(trigger: trigger), contact: contact, configured: [.email], smsGateway: nil)
        } == expected)
    }

    @Test("without an e-mail channel configured, a guest with both addresses is sent an SMS instead of being given up")
    func unconfiguredChannelPassedOver() throws {
        let contact = GuestContact(name: "Li Wei", email: "li@example.com", phone: "+8613800138000")
        let (channel, _) = try DeliveryPerformer.guestDestination(
            for: intent(trigger: "received"), contact: contact, configured: [.sms], smsGateway: Self.gateway)
        #expect(channel == .sms)
        #expect(code { () throws(WorkFailure) in
            try DeliveryPerformer.guestDestination(
                for: intent(trigger: "received"), contact: GuestContact(email: "li@example.com"), configured: [.sms], smsGateway: Self.gateway)
        } == "no_contact_details")
        #expect(code { () throws(WorkFailure) in
            try DeliveryPerformer.guestDestination(for: intent(trigger: "received"), contact: contact, configured: [], smsGateway: nil)
        } == "channel_not_configured", "a deployment fault, not the guest's")
    }
}
