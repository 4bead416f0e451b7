import ComplaintEvents
import Testing

@testable import Intake

/// The staff correction read from a classified event's explanation: its `correction`, or for an event
/// published before that existed the summary format the classifier's API documents, including summaries
/// cut short or not in that format.
@Suite("Staff corrections in classified events")
struct StaffCorrectionTests {
    static func explanation(_ summary: String?, classifier: String = "staff") -> ClassificationExplanation {
        ClassificationExplanation(classifier: classifier, version: classifier, matchedRules: ["staff_correction"], matchedTerms: [], summary: summary)
    }

    @Test("the classifier's own verdict is not a correction")
    func automatic() {
        #expect(StaffCorrection(Self.explanation("set by staff x: other, minor; reason: r; the classifier said other, minor", classifier: "keyword")) == nil)
    }

    @Test("staff id, reason (even one quoting the format) and the verdict replaced")
    func full() throws {
        let reason = "not a leak; the classifier said maintenance, minor"
        let correction = try #require(StaffCorrection(Self.explanation(
            "set by staff dm-wang.li: safety_security, serious; reason: \(reason); the classifier said maintenance, moderate")))
        #expect(correction.staffID == "dm-wang.li")
        #expect(correction.reason == reason)
        #expect(correction.previousCategory == "maintenance")
        #expect(correction.previousSeverity == "moderate")
    }

    /// Before, only the summary was read: one in another format named nobody and no reason.
    @Test("the structured correction is read first, whatever the summary says")
    func structured() throws {
        var explanation = Self.explanation("Korrigiert von Frau Wang: Sicherheit, schwer")
        explanation.correction = ClassificationCorrection(
            by: "dm-wang.li", reason: "not a leak: sparks from the switch", previousCategory: .maintenance, previousSeverity: .moderate)
        let correction = try #require(StaffCorrection(explanation))
        #expect(correction.staffID == "dm-wang.li")
        #expect(correction.reason == "not a leak: sparks from the switch")
        #expect(correction.previousCategory == "maintenance")
        #expect(correction.previousSeverity == "moderate")
        #expect(correction.summary == "Korrigiert von Frau Wang: Sicherheit, schwer")
        // It wins over a summary in the documented format that says otherwise too.
        explanation.summary = "set by staff someone: other, minor; reason: r; the classifier said other, minor"
        #expect(try #require(StaffCorrection(explanation)).staffID == "dm-wang.li")
    }

    @Test("a summary cut at 500 characters keeps the staff id, not a guessed reason; no summary names nobody")
    func partial() throws {
        let cut = try #require(StaffCorrection(Self.explanation("set by staff gm-01: other, minor; reason: " + String(repeating: "x", count: 20))))
        #expect(cut.staffID == "gm-01")
        #expect(cut.reason == nil)
        #expect(cut.summary?.hasSuffix("xxxx") == true)
        let none = try #require(StaffCorrection(Self.explanation(nil)))
        #expect(none.staffID == nil)
        #expect(none.summary == nil)
        let odd = try #require(StaffCorrection(Self.explanation("set by staff someone else: other, minor")))
        #expect(odd.staffID == nil)
    }
}
