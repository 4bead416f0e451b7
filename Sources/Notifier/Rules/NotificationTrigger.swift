import ComplaintEvents

/// What happened to a complaint, as the rules name it: `received`, `assigned.initial`,
/// `assigned.escalation`, `updated.resolved`, `sla.warning`, `sla.followup_due`, …
///
/// One name per consumed event, so a rule file reads like the timeline of a complaint.
public struct NotificationTrigger: Sendable, Hashable, CustomStringConvertible, Comparable {
    public let name: String

    public init(_ name: String) { self.name = name }

    public var description: String { name }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.name < rhs.name }

    public static let received = NotificationTrigger("received")
    public static func assigned(_ reason: AssignmentReason) -> NotificationTrigger { NotificationTrigger("assigned.\(reason.rawValue)") }
    public static func updated(_ kind: ComplaintUpdated.Kind) -> NotificationTrigger { NotificationTrigger("updated.\(kind.rawValue)") }
    public static func sla(_ kind: ComplaintSLAEvent.Kind) -> NotificationTrigger { NotificationTrigger("sla.\(kind.rawValue)") }

    /// Every trigger a rule may name.
    public static let all: Set<NotificationTrigger> = Set(
        [received] + AssignmentReason.allCases.map(assigned) + ComplaintUpdated.Kind.allCases.map(updated)
            + ComplaintSLAEvent.Kind.allCases.map(sla))
}
