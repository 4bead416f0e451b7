/// The `data` of one event type: ties a Swift type to its CloudEvents `type` and tells the
/// envelope which `subject` and `hotelid` it implies.
public protocol EventPayload: Codable, Hashable, Sendable {
    /// The CloudEvents `type`, e.g. `redress.complaint.received.v1`.
    static var eventType: String { get }
    /// The `subject` the envelope must carry (the complaint id), or nil when it must carry none.
    var envelopeSubject: String? { get }
    /// The hotel named inside the payload, which the envelope `hotelid` must repeat; nil if none.
    var envelopeHotelID: String? { get }
}

extension EventPayload {
    public var envelopeSubject: String? { nil }
    public var envelopeHotelID: String? { nil }
}
