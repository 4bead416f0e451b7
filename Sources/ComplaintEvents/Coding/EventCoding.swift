import Foundation

/// The one JSON encoder and decoder of Redress events, so every service reads and writes the same bytes.
///
/// Decoding is validating: it rejects what the schemas in `schemas/` reject — malformed JSON,
/// oversized or over-nested documents, missing, unknown or `null` members, wrong types, and values
/// outside their length, range, pattern or enumeration — with an ``EventValidationError`` that
/// names the exact field. Encoding checks the result the same way, so a service can never
/// publish what its consumers would dead-letter. Output has members sorted by name, timestamps
/// as RFC 3339 UTC milliseconds (``EventTimestamp``) and UUIDs in lower case.
public enum EventCoding {
    /// The largest event accepted or produced, in bytes (Kafka's default `message.max.bytes`).
    public static let maximumEventSize = 1_048_576
    /// The deepest nesting of objects and arrays accepted; real events need fewer than ten.
    public static let maximumNestingDepth = 32

    /// Decodes and validates `type` from UTF-8 JSON.
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws(EventValidationError) -> T {
        try decode(type, from: JSONParser.parse(bytes, maximumSize: maximumEventSize, maximumDepth: maximumNestingDepth))
    }

    /// Decodes and validates `type` from UTF-8 JSON.
    public static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws(EventValidationError) -> T {
        guard data.count <= maximumEventSize else {
            throw EventValidationError(code: .tooLarge, path: "", rule: "event is larger than \(maximumEventSize) bytes")
        }
        return try decode(type, from: [UInt8](data))
    }

    /// Decodes `type` from UTF-8 JSON this service stored itself (a verdict kept in PostgreSQL) with every
    /// rule but one: members it does not know are ignored, so a document a newer build wrote with an added
    /// member still reads after a rollback. Never for input from Kafka or HTTP, which ``decode(_:from:)``
    /// validates strictly.
    public static func decodeStored<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws(EventValidationError) -> T {
        let tree = try JSONParser.parse(bytes, maximumSize: maximumEventSize, maximumDepth: maximumNestingDepth)
        do {
            return try ValidatingDecoder.$ignoresUnknownMembers.withValue(true) { try decode(type, from: tree) }
        } catch let error as EventValidationError {
            throw error
        } catch {
            throw EventValidationError(error)
        }
    }

    /// Encodes `value` as compact UTF-8 JSON after checking it against the same rules decoding applies.
    public static func encode<T: Codable>(_ value: T, prettyPrinted: Bool = false) throws(EventValidationError) -> [UInt8] {
        let tree: JSONValue
        do {
            tree = try TreeEncoder.encode(value)
        } catch {
            throw EventValidationError(error)
        }
        _ = try decode(T.self, from: tree)
        let bytes = JSONWriter.write(tree, prettyPrinted: prettyPrinted)
        guard bytes.count <= maximumEventSize else {
            throw EventValidationError(code: .tooLarge, path: "", rule: "event is larger than \(maximumEventSize) bytes")
        }
        return bytes
    }

    /// Encodes any value in the same wire format — members sorted by name, RFC 3339 UTC millisecond
    /// timestamps, lower-case UUIDs, ``EmbeddedJSON`` spliced in — without the schema check: for
    /// HTTP response bodies, so an API spells ids and times exactly as the events do.
    public static func write(_ value: some Encodable, prettyPrinted: Bool = false) throws(EventValidationError) -> [UInt8] {
        let tree: JSONValue
        do {
            tree = try TreeEncoder.encode(value)
        } catch {
            throw EventValidationError(error)
        }
        return JSONWriter.write(tree, prettyPrinted: prettyPrinted)
    }

    /// Encodes `value` like ``encode(_:prettyPrinted:)``, as `Data`.
    public static func encodeData<T: Codable>(_ value: T, prettyPrinted: Bool = false) throws(EventValidationError) -> Data {
        Data(try encode(value, prettyPrinted: prettyPrinted))
    }

    static func decode<T: Decodable>(_ type: T.Type, from tree: JSONValue) throws(EventValidationError) -> T {
        do {
            return try ValidatingDecoder.decode(T.self, from: tree, at: [])
        } catch {
            throw EventValidationError(error)
        }
    }
}

extension EventValidationError {
    /// Wraps an error thrown by a type's own `init(from:)` or `encode(to:)`.
    init(_ error: any Error) {
        switch error {
        case let error as EventValidationError:
            self = error
        case DecodingError.keyNotFound(let key, let context):
            self.init(code: .missingProperty, codingPath: context.codingPath + [key], rule: "required property is missing")
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            self.init(code: .typeMismatch, codingPath: context.codingPath, rule: context.debugDescription)
        case DecodingError.dataCorrupted(let context):
            self.init(code: .invalidValue, codingPath: context.codingPath, rule: context.debugDescription)
        case EncodingError.invalidValue(_, let context):
            self.init(code: .invalidValue, codingPath: context.codingPath, rule: context.debugDescription)
        default:
            self.init(code: .invalidValue, path: "", rule: String(describing: error))
        }
    }
}
