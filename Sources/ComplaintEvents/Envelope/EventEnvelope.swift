import Foundation

/// A CloudEvents 1.0 event in JSON structured mode: the one shape of every Redress message.
///
/// `specversion`, `type` and `datacontenttype` follow from the payload type and are not stored;
/// `subject` is the payload's ``EventPayload/envelopeSubject``. Decoding checks all of them, and accepts
/// but drops other CloudEvents extension attributes (lower-case names of up to 20 letters and
/// digits with string, integer or boolean values), as the CloudEvents spec asks of consumers.
public struct EventEnvelope<Payload: EventPayload>: Codable, Hashable, Sendable {
    /// The CloudEvents version every Redress event declares.
    public static var specVersion: String { "1.0" }
    /// The media type of `data`.
    public static var dataContentType: String { "application/json" }

    /// Unique per event; consumers de-duplicate on it. Accepted in either case, written in lower case.
    public var id: UUID
    /// The producer, as a URI reference: `/redress/<service>` for Redress, e.g. `/pms/opera` for others.
    public var source: String
    /// When the fact happened, per the producer.
    public var time: Date
    /// The hotel the event belongs to (extension attribute `hotelid`); tenancy filters use it.
    public var hotelID: String
    /// W3C Trace Context of the request that caused the event (extension attribute `traceparent`).
    public var traceParent: String?
    /// Vendor trace state accompanying `traceParent` (extension attribute `tracestate`).
    public var traceState: String?
    /// The payload.
    public var data: Payload

    /// The CloudEvents `type`.
    public var type: String { Payload.eventType }
    /// The CloudEvents `subject`: the complaint this event is about, if any.
    public var subject: String? { data.envelopeSubject }

    /// Creates an envelope; `id` defaults to a new random UUID.
    public init(
        id: UUID = UUID(), source: String, time: Date, hotelID: String,
        traceParent: String? = nil, traceState: String? = nil, data: Payload
    ) {
        self.id = id
        self.source = source
        self.time = time
        self.hotelID = hotelID
        self.traceParent = traceParent
        self.traceState = traceState
        self.data = data
    }

    private enum Attribute: String, CodingKey {
        case specversion, id, source, type, subject, time, datacontenttype, hotelid, traceparent, tracestate, data
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: NameKey.self)
        func decodeIfPresent<T: Decodable>(_ type: T.Type, _ attribute: Attribute) throws -> T? {
            try container.decodeIfPresent(type, forKey: NameKey(attribute.rawValue))
        }
        func decode<T: Decodable>(_ type: T.Type, _ attribute: Attribute) throws -> T {
            try container.decode(type, forKey: NameKey(attribute.rawValue))
        }
        func fail(_ attribute: Attribute, _ code: EventValidationError.Code, _ rule: String) -> EventValidationError {
            EventValidationError(code: code, codingPath: container.codingPath + [attribute], rule: rule)
        }

        guard try decode(String.self, .specversion) == Self.specVersion else {
            throw fail(.specversion, .invalidValue, "must be \"\(Self.specVersion)\"")
        }
        guard try decode(String.self, .type) == Payload.eventType else {
            throw fail(.type, .invalidValue, "must be \"\(Payload.eventType)\"")
        }
        let idText = try decode(String.self, .id)
        guard TextPattern.uuid.matches(idText), let id = UUID(uuidString: idText) else {
            throw fail(.id, .invalidValue, "must be \(TextPattern.uuid.meaning)")
        }
        self.id = id
        source = try decode(String.self, .source)
        let subject = try decodeIfPresent(String.self, .subject)
        time = try decode(Date.self, .time)
        if let contentType = try decodeIfPresent(String.self, .datacontenttype), contentType != Self.dataContentType {
            throw fail(.datacontenttype, .invalidValue, "must be \"\(Self.dataContentType)\"")
        }
        hotelID = try decode(String.self, .hotelid)
        traceParent = try decodeIfPresent(String.self, .traceparent)
        traceState = try decodeIfPresent(String.self, .tracestate)
        for key in container.allKeys where Attribute(stringValue: key.stringValue) == nil {
            try Self.checkExtension(key, in: container)
        }
        data = try decode(Payload.self, .data)

        if let expected = data.envelopeSubject {
            guard let subject else { throw fail(.subject, .missingProperty, "required property is missing") }
            guard subject == expected else {
                throw fail(.subject, .inconsistent, "does not match data (expected \"\(expected)\")")
            }
        } else if subject != nil {
            throw fail(.subject, .unknownProperty, "not allowed for \(Payload.eventType)")
        }
        if let named = data.envelopeHotelID, named != hotelID {
            throw fail(.hotelid, .inconsistent, "does not match data.hotelId (expected \"\(named)\")")
        }
    }

    /// Accepts an unknown CloudEvents extension attribute if its name and value are well formed.
    private static func checkExtension(_ key: NameKey, in container: KeyedDecodingContainer<NameKey>) throws {
        let path = container.codingPath + [key]
        guard TextPattern.attributeName.matches(key.stringValue) else {
            throw EventValidationError(code: .unknownProperty, codingPath: path, rule: "unknown property")
        }
        _ = try container.decode(ExtensionValue.self, forKey: key)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: NameKey.self)
        func put<T: Encodable>(_ value: T?, _ attribute: Attribute) throws {
            try container.encodeIfPresent(value, forKey: NameKey(attribute.rawValue))
        }
        try put(Self.specVersion, .specversion)
        try put(id, .id)
        try put(source, .source)
        try put(type, .type)
        try put(subject, .subject)
        try put(time, .time)
        try put(Self.dataContentType, .datacontenttype)
        try put(hotelID, .hotelid)
        try put(traceParent, .traceparent)
        try put(traceState, .tracestate)
        try put(data, .data)
    }
}

/// Checks the value of a CloudEvents extension attribute this module does not model:
/// a string, an integer or a boolean, as the envelope schema's `additionalProperties` says.
private struct ExtensionValue: Decodable {
    init(from decoder: any Decoder) throws {
        guard let decoder = decoder as? ValidatingDecoder else { return }
        switch decoder.value {
        case .string:
            try FieldRule.text(length: 0...256, pattern: nil).check(decoder.value, at: decoder.codingPath)
        case .bool, .integer: return
        case .double(let number) where number == number.rounded(.towardZero): return
        default:
            throw ValidatingDecoder.typeMismatch(
                expected: "a string, integer or boolean", found: decoder.value, at: decoder.codingPath)
        }
    }
}

extension EventEnvelope: ValidatedObject {
    static var fieldRules: FieldRules { envelopeRules }
}

/// The envelope attributes' rules; `subject` is bounded here and pinned to `data` by the decoder.
private let envelopeRules = FieldRules([
    NameKey("source"): .text(maxLength: 256, .uriReference),
    NameKey("subject"): .text(maxLength: 128),
    NameKey("hotelid"): .identifier,
    NameKey("traceparent"): .text(maxLength: 55, .traceParent),
    NameKey("tracestate"): .text(maxLength: 512),
])
