import Foundation

/// The result of one attempt at a notification on `notifications.delivered.v1`: delivered; failed with a
/// ``NotificationFailure`` in `error` (retriable: another attempt follows); or given up when the attempts ran out.
public struct NotificationOutcome: EventPayload {
    public static let eventType = "redress.notification.outcome.v1"

    /// The `kind` discriminator of the JSON.
    public enum Kind: String, EventEnum {
        case delivered
        case failed
        case givenUp = "given_up"
    }

    /// Delivered, failed and why, or given up after the last attempt and why.
    public enum Status: Hashable, Sendable {
        case delivered
        case failed(NotificationFailure)
        case givenUp(NotificationFailure)

        public var kind: Kind {
            switch self {
            case .delivered: .delivered
            case .failed: .failed
            case .givenUp: .givenUp
            }
        }
    }

    public var notificationID: UUID
    public var complaintID: UUID
    public var status: Status
    public var channel: DeliveryChannel
    public var recipient: NotificationRecipient
    /// The template code, e.g. `complaint_received_guest`.
    public var template: String
    /// BCP 47 language the notification was rendered in.
    public var language: String
    /// Attempts made so far, including this one.
    public var attempts: Int
    public var occurredAt: Date
    /// The event that caused the notification.
    public var causeEventID: UUID?

    public var kind: Kind { status.kind }
    public var envelopeSubject: String? { complaintID.lowercasedString }

    public init(
        notificationID: UUID, complaintID: UUID, status: Status, channel: DeliveryChannel,
        recipient: NotificationRecipient, template: String, language: String, attempts: Int, occurredAt: Date,
        causeEventID: UUID? = nil
    ) {
        self.notificationID = notificationID
        self.complaintID = complaintID
        self.status = status
        self.channel = channel
        self.recipient = recipient
        self.template = template
        self.language = language
        self.attempts = attempts
        self.occurredAt = occurredAt
        self.causeEventID = causeEventID
    }

    enum CodingKeys: String, CodingKey {
        case notificationID = "notificationId", complaintID = "complaintId", kind, channel, recipient, template
        case language, attempts, occurredAt, causeEventID = "causeEventId", error
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        notificationID = try container.decode(UUID.self, forKey: .notificationID)
        complaintID = try container.decode(UUID.self, forKey: .complaintID)
        let kind = try container.decode(Kind.self, forKey: .kind)
        channel = try container.decode(DeliveryChannel.self, forKey: .channel)
        recipient = try container.decode(NotificationRecipient.self, forKey: .recipient)
        template = try container.decode(String.self, forKey: .template)
        language = try container.decode(String.self, forKey: .language)
        attempts = try container.decode(Int.self, forKey: .attempts)
        occurredAt = try container.decode(Date.self, forKey: .occurredAt)
        causeEventID = try container.decodeIfPresent(UUID.self, forKey: .causeEventID)
        try container.rejectDetails([.error], except: kind == .delivered ? nil : .error, kind: kind.rawValue)
        switch kind {
        case .delivered: status = .delivered
        case .failed: status = .failed(try container.decode(NotificationFailure.self, forKey: .error))
        case .givenUp: status = .givenUp(try container.decode(NotificationFailure.self, forKey: .error))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(notificationID, forKey: .notificationID)
        try container.encode(complaintID, forKey: .complaintID)
        try container.encode(kind, forKey: .kind)
        try container.encode(channel, forKey: .channel)
        try container.encode(recipient, forKey: .recipient)
        try container.encode(template, forKey: .template)
        try container.encode(language, forKey: .language)
        try container.encode(attempts, forKey: .attempts)
        try container.encode(occurredAt, forKey: .occurredAt)
        try container.encodeIfPresent(causeEventID, forKey: .causeEventID)
        switch status {
        case .delivered: break
        case .failed(let failure), .givenUp(let failure): try container.encode(failure, forKey: .error)
        }
    }
}

extension NotificationOutcome: ValidatedObject {
    static let fieldRules = FieldRules([
        CodingKeys.template: .code,
        .language: .language,
        .attempts: .integer(1...100),
    ])
}
