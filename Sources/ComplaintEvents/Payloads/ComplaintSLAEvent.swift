import Foundation

/// A step of a complaint's SLA clock on `complaints.sla.v1`: a timer started, a warning at 80 %,
/// a breach, an escalation (with ``Escalation`` details), a target met, or a follow-up falling due.
public struct ComplaintSLAEvent: EventPayload {
    public static let eventType = "redress.complaint.sla.v1"

    /// The `kind` discriminator of the JSON.
    public enum Kind: String, EventEnum {
        case timerStarted = "timer_started"
        case warning
        case breached
        case escalated
        case met
        case followUpDue = "followup_due"
    }

    /// What happened, with the escalation details for `escalated`.
    public enum Milestone: Hashable, Sendable {
        case timerStarted
        case warning
        case breached
        case escalated(Escalation)
        case met
        case followUpDue

        public var kind: Kind {
            switch self {
            case .timerStarted: .timerStarted
            case .warning: .warning
            case .breached: .breached
            case .escalated: .escalated
            case .met: .met
            case .followUpDue: .followUpDue
            }
        }
    }

    public var complaintID: UUID
    public var milestone: Milestone
    public var target: SLATarget
    public var severity: Severity
    /// The target's deadline (business hours already applied).
    public var deadline: Date
    public var occurredAt: Date

    public var kind: Kind { milestone.kind }
    public var envelopeSubject: String? { complaintID.lowercasedString }

    public init(complaintID: UUID, milestone: Milestone, target: SLATarget, severity: Severity, deadline: Date, occurredAt: Date) {
        self.complaintID = complaintID
        self.milestone = milestone
        self.target = target
        self.severity = severity
        self.deadline = deadline
        self.occurredAt = occurredAt
    }

    enum CodingKeys: String, CodingKey {
        case complaintID = "complaintId", kind, target, severity, deadline, occurredAt, escalation
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        complaintID = try container.decode(UUID.self, forKey: .complaintID)
        let kind = try container.decode(Kind.self, forKey: .kind)
        target = try container.decode(SLATarget.self, forKey: .target)
        severity = try container.decode(Severity.self, forKey: .severity)
        deadline = try container.decode(Date.self, forKey: .deadline)
        occurredAt = try container.decode(Date.self, forKey: .occurredAt)
        try container.rejectDetails([.escalation], except: kind == .escalated ? .escalation : nil, kind: kind.rawValue)
        switch kind {
        case .timerStarted: milestone = .timerStarted
        case .warning: milestone = .warning
        case .breached: milestone = .breached
        case .escalated: milestone = .escalated(try container.decode(Escalation.self, forKey: .escalation))
        case .met: milestone = .met
        case .followUpDue: milestone = .followUpDue
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(complaintID, forKey: .complaintID)
        try container.encode(kind, forKey: .kind)
        try container.encode(target, forKey: .target)
        try container.encode(severity, forKey: .severity)
        try container.encode(deadline, forKey: .deadline)
        try container.encode(occurredAt, forKey: .occurredAt)
        if case .escalated(let escalation) = milestone {
            try container.encode(escalation, forKey: .escalation)
        }
    }
}
