import Foundation

/// A complaint as another system (PMS, call centre, WeChat, review monitor) publishes it to
/// `complaints.submitted.v1`. Intake registers it once per `source` + `externalId`.
public struct ComplaintSubmitted: EventPayload {
    public static let eventType = "redress.complaint.submitted.v1"

    public var hotelID: String
    /// The submitting system, e.g. `opera_pms`, `wechat_mp`; with `externalID` the idempotency key.
    public var source: String
    /// The complaint's id in the submitting system; also the Kafka key and the envelope subject.
    public var externalID: String
    public var channel: ComplaintChannel
    /// When the problem happened, if known.
    public var occurredAt: Date?
    /// When the guest reported it.
    public var reportedAt: Date
    /// The complaint in the guest's words, up to 4000 characters.
    public var text: String
    /// BCP 47 language of `text`, if the source knows it.
    public var language: String?
    public var guest: GuestDetails
    public var reporter: Reporter

    public var envelopeSubject: String? { externalID }
    public var envelopeHotelID: String? { hotelID }

    public init(
        hotelID: String, source: String, externalID: String, channel: ComplaintChannel, occurredAt: Date? = nil,
        reportedAt: Date, text: String, language: String? = nil, guest: GuestDetails, reporter: Reporter
    ) {
        self.hotelID = hotelID
        self.source = source
        self.externalID = externalID
        self.channel = channel
        self.occurredAt = occurredAt
        self.reportedAt = reportedAt
        self.text = text
        self.language = language
        self.guest = guest
        self.reporter = reporter
    }

    enum CodingKeys: String, CodingKey {
        case hotelID = "hotelId", source, externalID = "externalId", channel, occurredAt, reportedAt, text, language
        case guest, reporter
    }
}

extension ComplaintSubmitted: ValidatedObject {
    static let fieldRules = FieldRules([
        CodingKeys.hotelID: .identifier,
        .source: .code,
        .externalID: .text(maxLength: 128, .reference(maxLength: 128)),
        .text: .text(maxLength: 4000),
        .language: .language,
    ])
}
