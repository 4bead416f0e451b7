/// Why a complaint was (re)assigned.
public enum AssignmentReason: String, EventEnum {
    /// First assignment after classification.
    case initial
    /// Re-assignment up the escalation chain after an SLA breach.
    case escalation
    /// A person took it over (a hand-over: they acknowledged it) or re-assigned it by hand.
    case manual
}
