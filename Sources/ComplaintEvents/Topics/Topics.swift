import Foundation

/// Every Kafka topic of Redress, typed: the registry services publish and subscribe through.
///
/// Each topic carries exactly one CloudEvents `type`. Topics with several kinds of fact
/// (`updated`, `sla`, `notifications`) say which in the payload's `kind` member.
public enum Topics {
    /// Complaints from other systems. Key: their `externalId`.
    public static let submitted = Topic<ComplaintSubmitted>(name: "complaints.submitted.v1", keyDescription: "external id") {
        Array($0.data.externalID.utf8)
    }
    /// Complaints intake registered. Key: complaint id.
    public static let received = Topic<ComplaintReceived>(name: "complaints.received.v1", keyDescription: "complaint id") {
        complaintKey($0.data.complaintID)
    }
    /// Classifier verdicts. Key: complaint id.
    public static let classified = Topic<ComplaintClassified>(name: "complaints.classified.v1", keyDescription: "complaint id") {
        complaintKey($0.data.complaintID)
    }
    /// Assignments and re-assignments. Key: complaint id.
    public static let assigned = Topic<ComplaintAssigned>(name: "complaints.assigned.v1", keyDescription: "complaint id") {
        complaintKey($0.data.complaintID)
    }
    /// Staff actions. Key: complaint id.
    public static let updated = Topic<ComplaintUpdated>(name: "complaints.updated.v1", keyDescription: "complaint id") {
        complaintKey($0.data.complaintID)
    }
    /// SLA timers, warnings, breaches, escalations. Key: complaint id.
    public static let sla = Topic<ComplaintSLAEvent>(name: "complaints.sla.v1", keyDescription: "complaint id") {
        complaintKey($0.data.complaintID)
    }
    /// Notification deliveries and failures. Key: complaint id.
    public static let notifications = Topic<NotificationOutcome>(
        name: "notifications.delivered.v1", keyDescription: "complaint id"
    ) { complaintKey($0.data.complaintID) }
    /// Early warnings. Key: hotel id.
    public static let alerts = Topic<EarlyWarningAlert>(name: "alerts.v1", keyDescription: "hotel id") {
        Array($0.data.hotelID.utf8)
    }
    /// Messages a consumer could not process. Key: the original message's key.
    public static let deadLetter = Topic<DeadLetterRecord>(name: "complaints.deadletter.v1", keyDescription: "original key") {
        $0.data.originalKey.map { [UInt8]($0) }
    }

    /// All topics, in the order of the loop.
    public static let all: [AnyTopic] = [
        submitted.erased, received.erased, classified.erased, assigned.erased, updated.erased, sla.erased,
        notifications.erased, alerts.erased, deadLetter.erased,
    ]

    /// The topic called `name`, if Redress has one.
    public static func named(_ name: String) -> AnyTopic? { all.first { $0.name == name } }

    /// The topic that carries CloudEvents type `eventType`, if any.
    public static func carrying(eventType: String) -> AnyTopic? { all.first { $0.eventType == eventType } }

    private static func complaintKey(_ id: UUID) -> [UInt8] { Array(id.lowercasedString.utf8) }
}
