import Foundation

/// A complaint intake has registered (from HTTP or `complaints.submitted.v1`): it now has an id,
/// a timeline and an owner-to-be. Carries the guest only as a ``GuestSummary``.
public struct ComplaintReceived: EventPayload {
    public static let eventType = "redress.complaint.received.v1"

    public var complaintID: UUID
    public var hotelID: String
    public var source: String
    public var externalID: String
    public var channel: ComplaintChannel
    public var occurredAt: Date?
    public var reportedAt: Date
    /// When intake registered it; SLA targets count from here.
    public var registeredAt: Date
    public var text: String
    public var language: String?
    public var guest: GuestSummary
    public var reporter: Reporter

    public var envelopeSubject: String? { complaintID.lowercasedString }
    public var envelopeHotelID: String? { hotelID }

    public init(
        complaintID: UUID, hotelID: String, source: String, externalID: String, channel: ComplaintChannel,
        occurredAt: Date? = nil, reportedAt: Date, registeredAt: Date, text: String, language: String? = nil,
        guest: GuestSummary, reporter: Reporter
    ) {
        self.complaintID = complaintID
        self.hotelID = hotelID
        self.source = source
        self.externalID = externalID
        self.channel = channel
        self.occurredAt = occurredAt
        self.reportedAt = reportedAt
        self.registeredAt = registeredAt
        self.text = text
        self.language = language
        self.guest = guest
        self.reporter = reporter
    }

    enum CodingKeys: String, CodingKey {
        case complaintID = "complaintId", hotelID = "hotelId", source, externalID = "externalId", channel, occurredAt
        case reportedAt, registeredAt, text, language, guest, reporter
    }
}

extension ComplaintReceived: ValidatedObject {
    static let fieldRules = FieldRules([
        CodingKeys.hotelID: .identifier,
        .source: .code,
        .externalID: .text(maxLength: 128, .reference(maxLength: 128)),
        .text: .text(maxLength: 4000),
        .language: .language,
    ])
}
