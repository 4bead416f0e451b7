/// A JSON document made elsewhere (a row PostgreSQL built with `jsonb_build_object`), embedded as
/// is where ``EventCoding/write(_:prettyPrinted:)`` encodes a value, so an HTTP response can carry
/// it without being re-modelled in Swift.
public struct EmbeddedJSON: Encodable, Sendable, Hashable {
    /// The UTF-8 JSON text.
    public let bytes: [UInt8]

    public init(_ text: String) {
        self.bytes = Array(text.utf8)
    }

    /// Encodes the document as a string when used with an encoder other than ``EventCoding``'s.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(String(decoding: bytes, as: UTF8.self))
    }
}
