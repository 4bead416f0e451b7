import Access
import Foundation
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
}
