import ComplaintEvents
import Foundation

/// A classified event that is a manager's correction, not the classifier's own verdict, read from its
/// explanation, so that intake's timeline (the audit trail, kept for good) records who changed the
/// verdict and why after the classifier's `classification_corrections` row is purged.
///
/// The classifier marks the verdict with `explanation.classifier` `staff`, and says who, why and the
/// verdict replaced in `explanation.correction`, which is what is read when present.
///
/// Fallback, only for staff verdicts published before `correction` existed (still on the topic, or
/// replayed from it): the summary, in the format the classifier's API documents
/// (`services/classifier/openapi.yaml`): `set by staff <staff id>: <category>, <severity>; reason:
/// <reason>; the classifier said <category>, <severity>`, cut at 500 characters. The staff id is an
/// API key's name (letters, digits, `.`, `_`, `-`), so it ends at the first `: `; the reason is what
/// lies between the first `; reason: ` and the last `; the classifier said `, and only when the
/// summary ends with the two codes (a summary cut short leaves the reason out; the whole summary is
/// kept all the same).
struct StaffCorrection: Sendable, Hashable {
    /// The `explanation.classifier` of a verdict set by staff.
    static let classifier = "staff"

    /// Who corrected it; `nil` when the summary does not say (absent, or not in the documented format).
    var staffID: String?
    var reason: String?
    /// The verdict it replaced.
    var previousCategory: String?
    var previousSeverity: String?
    var summary: String?

    /// The correction `explanation` describes, or `nil` for the classifier's own verdict.
    init?(_ explanation: ClassificationExplanation) {
        guard explanation.classifier == Self.classifier else { return nil }
        summary = explanation.summary
        if let correction = explanation.correction {
            staffID = correction.by
            reason = correction.reason
            previousCategory = correction.previousCategory.rawValue
            previousSeverity = correction.previousSeverity.rawValue
            return
        }
        // Published before `correction` existed: read the summary.
        guard let summary, summary.hasPrefix("set by staff ") else { return }
        let afterPrefix = summary.dropFirst("set by staff ".count)
        guard let idEnd = afterPrefix.range(of: ": ") else { return }
        let id = afterPrefix[..<idEnd.lowerBound]
        guard (1...64).contains(id.unicodeScalars.count), id.unicodeScalars.allSatisfy(Self.isIdentifierScalar) else { return }
        staffID = String(id)
        let verdict = afterPrefix[idEnd.upperBound...]
        guard let reasonStart = verdict.range(of: "; reason: "),
              let saidStart = verdict.range(of: "; the classifier said ", options: .backwards),
              reasonStart.upperBound <= saidStart.lowerBound
        else { return }
        let said = verdict[saidStart.upperBound...].components(separatedBy: ", ")
        guard said.count == 2, ComplaintCategory(rawValue: said[0]) != nil, Severity(rawValue: said[1]) != nil else { return }
        reason = String(verdict[reasonStart.upperBound..<saidStart.lowerBound])
        previousCategory = said[0]
        previousSeverity = said[1]
    }

    private static func isIdentifierScalar(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "A"..."Z", "a"..."z", "0"..."9", ".", "_", "-": true
        default: false
        }
    }
}
