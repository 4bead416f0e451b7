import Foundation

/// A step of a complaint's SLA clock on `complaints.sla.v1`: a timer started, a warning, a breach, an
/// escalation (with ``Escalation`` details), a target met, clocks paused and resumed while staff wait
/// for the guest, a follow-up falling due, or the absolute ceiling reached, or the deadlines rescheduled (a reclassification, a move to another calendar, a reopening). Fired
/// timers say how late they fired; `timer_started`, `resumed` and `rescheduled` carry the open deadlines.
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
        case paused
        case resumed
        case ceilingReached = "ceiling_reached"
        case rescheduled
    }

    /// What happened, with the escalation details for `escalated`.
    public enum Milestone: Hashable, Sendable {
        case timerStarted
        case warning
        case breached
        case escalated(Escalation)
        case met
        case followUpDue
        case paused
        case resumed
        case ceilingReached
        /// The complaint was reclassified (severity or category changed): the open deadlines were recomputed.
        case rescheduled

        public var kind: Kind {
            switch self {
            case .timerStarted: .timerStarted
            case .warning: .warning
            case .breached: .breached
            case .escalated: .escalated
            case .met: .met
            case .followUpDue: .followUpDue
            case .paused: .paused
            case .resumed: .resumed
            case .ceilingReached: .ceilingReached
            case .rescheduled: .rescheduled
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
    /// For a fired timer: how long after its due time it fired, in milliseconds (the due time is the warning
    /// point for `warning`, the deadline plus the step's delay for `escalated`, the deadline otherwise).
    public var latenessMilliseconds: Int64?
    /// The open acknowledge-by deadline (on `timer_started`, `resumed` and `rescheduled`).
    public var acknowledgeBy: Date?
    /// The open resolve-by deadline (on `timer_started`, `resumed` and `rescheduled`).
    public var resolveBy: Date?

    public var kind: Kind { milestone.kind }
    public var envelopeSubject: String? { complaintID.lowercasedString }

    public init(
        complaintID: UUID, milestone: Milestone, target: SLATarget, severity: Severity, deadline: Date, occurredAt: Date,
        latenessMilliseconds: Int64? = nil, acknowledgeBy: Date? = nil, resolveBy: Date? = nil
    ) {
        self.complaintID = complaintID
        self.milestone = milestone
        self.target = target
        self.severity = severity
        self.deadline = deadline
        self.occurredAt = occurredAt
        self.latenessMilliseconds = latenessMilliseconds
        self.acknowledgeBy = acknowledgeBy
        self.resolveBy = resolveBy
    }

    enum CodingKeys: String, CodingKey {
        case complaintID = "complaintId", kind, target, severity, deadline, occurredAt, escalation
        case latenessMilliseconds = "latenessMs", acknowledgeBy, resolveBy
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        complaintID = try container.decode(UUID.self, forKey: .complaintID)
        let kind = try container.decode(Kind.self, forKey: .kind)
        target = try container.decode(SLATarget.self, forKey: .target)
        severity = try container.decode(Severity.self, forKey: .severity)
        deadline = try container.decode(Date.self, forKey: .deadline)
        occurredAt = try container.decode(Date.self, forKey: .occurredAt)
        latenessMilliseconds = try container.decodeIfPresent(Int64.self, forKey: .latenessMilliseconds)
        acknowledgeBy = try container.decodeIfPresent(Date.self, forKey: .acknowledgeBy)
        resolveBy = try container.decodeIfPresent(Date.self, forKey: .resolveBy)
        try container.rejectDetails([.escalation], except: kind == .escalated ? .escalation : nil, kind: kind.rawValue)
        switch kind {
        case .timerStarted: milestone = .timerStarted
        case .warning: milestone = .warning
        case .breached: milestone = .breached
        case .escalated: milestone = .escalated(try container.decode(Escalation.self, forKey: .escalation))
        case .met: milestone = .met
        case .followUpDue: milestone = .followUpDue
        case .paused: milestone = .paused
        case .resumed: milestone = .resumed
        case .ceilingReached: milestone = .ceilingReached
        case .rescheduled: milestone = .rescheduled
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
        try container.encodeIfPresent(latenessMilliseconds, forKey: .latenessMilliseconds)
        try container.encodeIfPresent(acknowledgeBy, forKey: .acknowledgeBy)
        try container.encodeIfPresent(resolveBy, forKey: .resolveBy)
        if case .escalated(let escalation) = milestone {
            try container.encode(escalation, forKey: .escalation)
        }
    }
}

extension ComplaintSLAEvent: ValidatedObject {
    static let fieldRules = FieldRules([CodingKeys.latenessMilliseconds: .integer(0...Int64.max)])
}
