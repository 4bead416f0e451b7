/// Why a complaint was (re)assigned.
public enum AssignmentReason: String, EventEnum {
    /// First assignment after classification.
    case initial
    /// Re-assignment up the escalation chain after an SLA breach.
    case escalation
    /// A person took it over (a hand-over: they acknowledged it) or re-assigned it by hand.
    case manual
    /// The owner keeps it, but a newer verdict moved it to another department (reclassified after it was
    /// acknowledged, escalated, resolved or closed): the assignee is unchanged, the department is new.
    case departmentChanged = "department_changed"
}
