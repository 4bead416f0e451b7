import ComplaintEvents
import Foundation

/// One notification the stage decided on — who, on which channel, with which template and language —
/// recorded in the work queue in the transaction that consumed its cause and delivered later by the
/// channel's worker. Guest contact details are not in it: they are fetched from intake at send time.
public struct NotificationIntent: Codable, Sendable, Hashable {
    public var notificationID: UUID
    public var complaintID: UUID
    public var hotelID: String
    /// The consumed event that caused it; part of the idempotency key.
    public var causeEventID: UUID
    public var causeTime: Date
    public var trigger: String
    public var rule: String
    public var template: String
    public var language: String
    public var channel: DeliveryChannel
    public var recipient: NotificationRecipient
    /// For robots and webhooks: the endpoint's name in the rules file.
    public var endpoint: String?
    /// For staff: the e-mail address or phone number from the rules file's directory.
    public var staffAddress: String?
    /// For a guest: the channels to try in order (the first the guest has an address for is used).
    public var guestChannels: [DeliveryChannel]?
    /// What the template may show (no guest contact details, no internal notes).
    public var facts: MessageFacts
    /// For a guest message held for quiet hours: the later guest message of the complaint that replaces
    /// it, set in the work queue's payload when that one is planned (``HeldGuestMessages``); the worker
    /// decides when this one falls due.
    public var supersededBy: UUID? = nil

    /// The key that makes a repeated delivery recognisable (webhook `Idempotency-Key`, e-mail
    /// `Message-ID`), and that stops a redelivered cause from recording a second intent.
    public var idempotencyKey: String {
        Self.idempotencyKey(cause: causeEventID, rule: rule, recipient: recipientKey, channel: channel)
    }

    /// `guest`, `staff:SHA-HK-001` or `endpoint:pudong-wecom`.
    public var recipientKey: String {
        if let endpoint { return "endpoint:\(endpoint)" }
        return recipient.kind == .guest ? "guest" : "staff:\(recipient.staffID ?? "?")"
    }

    public static func idempotencyKey(cause: UUID, rule: String, recipient: String, channel: DeliveryChannel) -> String {
        "\(cause.uuidString.lowercased()):\(rule):\(recipient):\(channel.rawValue)"
    }

    /// A name-based UUID (version 5 layout over SHA-256) of the idempotency key: the same intent always
    /// gets the same notification id.
    public static func notificationID(forKey key: String) -> UUID {
        UUID(nameBasedOn: "redress.notification:" + key)
    }
}

/// The complaint facts a message may show, captured when the intent is recorded.
public struct MessageFacts: Codable, Sendable, Hashable {
    public var category: ComplaintCategory?
    public var severity: Severity?
    public var department: String?
    /// The assignee's full name and role: for staff messages only.
    public var assigneeName: String?
    public var assigneeRole: ActorRole?
    public var escalationLevel: Int?
    /// The SLA target and its deadline, for clock events.
    public var target: SLATarget?
    public var deadline: Date?
    public var statusAfter: ComplaintStatus?

    public init(
        category: ComplaintCategory? = nil, severity: Severity? = nil, department: String? = nil, assigneeName: String? = nil,
        assigneeRole: ActorRole? = nil, escalationLevel: Int? = nil, target: SLATarget? = nil, deadline: Date? = nil,
        statusAfter: ComplaintStatus? = nil
    ) {
        self.category = category
        self.severity = severity
        self.department = department
        self.assigneeName = assigneeName
        self.assigneeRole = assigneeRole
        self.escalationLevel = escalationLevel
        self.target = target
        self.deadline = deadline
        self.statusAfter = statusAfter
    }
}
