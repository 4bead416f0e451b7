import Foundation

/// A complaint handed to a department and a person, first after classification and again on
/// escalation, on a hand-over, or to a new department its owner keeps (`department_changed`). Repeats category, severity, priority and registration time so the SLA watcher
/// can start timers from this event alone.
public struct ComplaintAssigned: EventPayload {
    public static let eventType = "redress.complaint.assigned.v1"

    public var complaintID: UUID
    public var assignedAt: Date
    public var registeredAt: Date
    public var category: ComplaintCategory
    public var severity: Severity
    public var priority: Int
    /// A configured department code, e.g. `engineering`, `housekeeping`.
    public var department: String
    public var assignee: Assignee
    /// How the assignee was chosen: `least_loaded`, `round_robin`, `language_skill`, `http`, a fallback
    /// (`duty_manager_fallback`, `general_manager_fallback`), `escalation`, `hand_over` or `owner_kept` (only the
    /// department changed).
    public var strategy: String
    public var reason: AssignmentReason
    /// 0 for a normal assignment, 1–3 along the escalation chain.
    public var escalationLevel: Int
    /// One line on why this person, for people reading the timeline, e.g. "least loaded of 3 on duty in
    /// Housekeeping; speaks zh-CN". Optional in the contract; the assignment service always sets it.
    public var explanation: String?

    public var envelopeSubject: String? { complaintID.lowercasedString }

    public init(
        complaintID: UUID, assignedAt: Date, registeredAt: Date, category: ComplaintCategory, severity: Severity,
        priority: Int, department: String, assignee: Assignee, strategy: String, reason: AssignmentReason,
        escalationLevel: Int, explanation: String? = nil
    ) {
        self.complaintID = complaintID
        self.assignedAt = assignedAt
        self.registeredAt = registeredAt
        self.category = category
        self.severity = severity
        self.priority = priority
        self.department = department
        self.assignee = assignee
        self.strategy = strategy
        self.reason = reason
        self.escalationLevel = escalationLevel
        self.explanation = explanation
    }

    enum CodingKeys: String, CodingKey {
        case complaintID = "complaintId", assignedAt, registeredAt, category, severity, priority, department, assignee
        case strategy, reason, escalationLevel, explanation
    }
}

extension ComplaintAssigned: ValidatedObject {
    static let fieldRules = FieldRules([
        CodingKeys.priority: .integer(1...4),
        .department: .code,
        .strategy: .code,
        .escalationLevel: .integer(0...3),
        .explanation: .text(maxLength: 500),
    ])
}
