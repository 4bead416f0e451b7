import Access
import ComplaintEvents
import ComplaintPipeline
import Foundation
@testable import Notifier
import Testing

@Suite("Survey tokens")
struct SurveyTokenTests {
    let secret = "survey-secret-0123456789"
    let id = UUID()

    @Test("a signed token verifies until it expires")
    func roundTrip() throws {
        let expiry = Date().addingTimeInterval(3600)
        let token = SurveyToken(complaintID: id, expiresAt: expiry, secret: secret)
        let checked = try SurveyToken(verifying: token.description, secret: secret)
        #expect(checked.complaintID == id)
        #expect(abs(checked.expiresAt.timeIntervalSince(expiry)) < 1)
        #expect(token.description.hasPrefix("v1."))
        #expect(!token.description.contains("/") && !token.description.contains("+") && !token.description.contains("="), "URL-safe")
        #expect(throws: SurveyToken.Refusal.expired) { _ = try SurveyToken(verifying: token.description, secret: secret, now: expiry.addingTimeInterval(1)) }
    }

    @Test("an altered id, expiry or signature, or another secret, is tampered; garbage is malformed")
    func refusals() throws {
        let token = SurveyToken(complaintID: id, expiresAt: Date().addingTimeInterval(3600), secret: secret).description
        let fields = token.split(separator: ".").map(String.init)
        var parts = fields
        parts[2] = String(Int64(parts[2])! + 86_400)
        #expect(throws: SurveyToken.Refusal.tampered) { _ = try SurveyToken(verifying: parts.joined(separator: "."), secret: secret) }
        var other = fields
        other[1] = UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        #expect(throws: SurveyToken.Refusal.tampered) { _ = try SurveyToken(verifying: other.joined(separator: "."), secret: secret) }
        #expect(throws: SurveyToken.Refusal.tampered) { _ = try SurveyToken(verifying: token, secret: "another-secret-0123456789") }
        // Change the signature's first character: every bit of it counts (the last one's low bits are
        // padding, and it may already be the replacement).
        var signed = fields
        signed[3] = (signed[3].hasPrefix("A") ? "B" : "A") + signed[3].dropFirst()
        #expect(throws: SurveyToken.Refusal.tampered) { _ = try SurveyToken(verifying: signed.joined(separator: "."), secret: secret) }
        for garbage in ["", "v1", "v2.\(parts[1]).\(parts[2]).\(parts[3])", "v1.xyz.1.abc", "v1.\(parts[1]).soon.\(parts[3])"] {
            #expect(throws: SurveyToken.Refusal.malformed) { _ = try SurveyToken(verifying: garbage, secret: secret) }
        }
    }

    @Test("a v2 token names its resolution to the millisecond; an altered resolution is tampered; v1 tokens still verify without one")
    func resolutionInTheToken() throws {
        let resolvedAt = Date(timeIntervalSince1970: 1_764_900_000.123_456)
        let expiry = Date().addingTimeInterval(3600)
        let token = SurveyToken(complaintID: id, resolvedAt: resolvedAt, expiresAt: expiry, secret: secret)
        let fields = token.description.split(separator: ".").map(String.init)
        #expect(fields.count == 5 && fields[0] == "v2" && fields[2] == "1764900000123")
        let checked = try SurveyToken(verifying: token.description, secret: secret)
        #expect(checked.complaintID == id)
        #expect(checked.resolvedAt.map(SurveyToken.milliseconds) == 1_764_900_000_123)
        var other = fields
        other[2] = "1764900000124"
        #expect(throws: SurveyToken.Refusal.tampered) { _ = try SurveyToken(verifying: other.joined(separator: "."), secret: secret) }
        // The resolution taken out, or a v1 label on a v2 body: never a valid token.
        var dropped = fields
        dropped.remove(at: 2)
        #expect(throws: SurveyToken.Refusal.tampered) { _ = try SurveyToken(verifying: "v1." + dropped.dropFirst().joined(separator: "."), secret: secret) }
        #expect(throws: SurveyToken.Refusal.malformed) { _ = try SurveyToken(verifying: "v1." + fields.dropFirst().joined(separator: "."), secret: secret) }
        #expect(throws: SurveyToken.Refusal.malformed) { _ = try SurveyToken(verifying: "v2.\(fields[1]).soon.\(fields[3]).\(fields[4])", secret: secret) }
        let old = try SurveyToken(verifying: SurveyToken(complaintID: id, expiresAt: expiry, secret: secret).description, secret: secret)
        #expect(old.resolvedAt == nil)
    }

    @Test("the survey asks about the resolution current when the follow-up fell due; a later resolution makes it no longer applicable")
    func surveyedResolution() throws {
        let first = Date(timeIntervalSince1970: 1_764_900_000)
        let second = first.addingTimeInterval(3 * 86_400)
        var intent = NotifierFixtures.intent(
            template: "followup_survey_guest", channel: .email, recipient: NotificationRecipient(kind: .guest, role: .guest), endpoint: nil,
            trigger: "sla.followup_due")
        intent.facts.deadline = first.addingTimeInterval(86_400)
        #expect(try DeliveryPerformer.surveyedResolution(of: intent, among: [first]) == first)
        #expect(try DeliveryPerformer.surveyedResolution(of: intent, among: []) == nil, "intake showed none: a v1 link")
        // Held (quiet hours, retries) while the complaint was reopened and resolved again: not sent.
        let stale = #expect(throws: WorkFailure.self) { _ = try DeliveryPerformer.surveyedResolution(of: intent, among: [first, second]) }
        #expect(stale?.isPermanent == true && stale?.reason.hasPrefix("[no_longer_applicable]") == true, "\(stale?.reason ?? "")")
        intent.facts.deadline = second.addingTimeInterval(86_400)
        #expect(try DeliveryPerformer.surveyedResolution(of: intent, among: [first, second]) == second)
        // The event's times a little behind intake's (rounded to the millisecond, or a test's clock): the latest.
        intent.facts.deadline = first.addingTimeInterval(-5)
        #expect(try DeliveryPerformer.surveyedResolution(of: intent, among: [first]) == first)

        // The link carries it.
        let rules = try NotifierFixtures.rules("""
            links:
              survey: "https://guest.example/survey/{token}"
            rules: []
            """)
        let performer = DeliveryPerformer(
            kind: .guest, rules: LiveConfiguration(name: "rules", fixed: rules), templates: try NotifierFixtures.templates(), channels: [:],
            guests: nil, surveySecret: secret, pacer: EndpointPacer())
        intent.facts.deadline = second.addingTimeInterval(86_400)
        let link = try #require(try performer.link(for: intent, rules: rules, guest: GuestContact(status: "resolved", resolutions: [first, second])))
        let token = try SurveyToken(verifying: String(link.dropFirst("https://guest.example/survey/".count)), secret: secret, now: .distantPast)
        #expect(token.resolvedAt == second && token.complaintID == intent.complaintID)
    }
}
