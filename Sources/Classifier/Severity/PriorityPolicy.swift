import ComplaintEvents

/// Priority 1 (most urgent) to 4 from severity and flags:
///
/// | severity | no flag | VIP, repeat, review threat or safety |
/// | --- | --- | --- |
/// | serious | 1 | 1 |
/// | moderate | 2 | 1 |
/// | minor | 4 (3 if the guest is very upset, sentiment ≤ −0.6) | 3 |
public enum PriorityPolicy {
    public static func priority(severity: Severity, flags: ClassificationFlags, sentiment: Double) -> Int {
        let flagged = flags.isVIP || flags.isRepeat || flags.threatensReview || flags.involvesSafety
        switch severity {
        case .serious: return 1
        case .moderate: return flagged ? 1 : 2
        case .minor: return flagged || sentiment <= -0.6 ? 3 : 4
        }
    }
}
