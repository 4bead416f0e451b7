import Foundation

/// A `Decoder` over a ``JSONValue`` that enforces what synthesized `Codable` does not:
///
/// - every member of an object must be read by the type's `init(from:)`, otherwise it is an
///   unknown property (`additionalProperties: false`);
/// - an explicit `null` is a type error, also for optionals (the schemas never allow `null`);
/// - the ``FieldRules`` of a ``ValidatedObject`` are checked before its members are decoded;
/// - `Date`, `UUID` (lower case) and `Data` use the wire formats of the schemas.
///
/// Every failure is an ``EventValidationError`` naming the exact path.
final class ValidatingDecoder: Decoder {
    let value: JSONValue
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    fileprivate let rules: FieldRules?
    fileprivate let elementRule: FieldRule?
    fileprivate var readMembers: Set<String> = []
    fileprivate var readAsObject = false

    private init(value: JSONValue, codingPath: [any CodingKey], rules: FieldRules?, elementRule: FieldRule?) {
        self.value = value
        self.codingPath = codingPath
        self.rules = rules
        self.elementRule = elementRule
    }

    /// Set by ``EventCoding/decodeStored(_:from:)`` only: members no `init(from:)` reads are let through.
    @TaskLocal static var ignoresUnknownMembers = false

    /// Decodes `type` from `value`, which sits at `codingPath` in the document.
    static func decode<T: Decodable>(
        _ type: T.Type, from value: JSONValue, at codingPath: [any CodingKey], elementRule: FieldRule? = nil
    ) throws -> T {
        if T.self == Date.self {
            let text = try string(value, at: codingPath)
            guard let date = EventTimestamp.date(from: text) else { throw invalid(TextPattern.dateTime, at: codingPath) }
            return date as! T
        }
        if T.self == UUID.self {
            let text = try string(value, at: codingPath)
            guard TextPattern.lowercaseUUID.matches(text), let uuid = UUID(uuidString: text) else {
                throw invalid(TextPattern.lowercaseUUID, at: codingPath)
            }
            return uuid as! T
        }
        if T.self == Data.self {
            let text = try string(value, at: codingPath)
            guard TextPattern.base64.matches(text), let data = Data(base64Encoded: text) else {
                throw invalid(TextPattern.base64, at: codingPath)
            }
            return data as! T
        }
        let decoder = ValidatingDecoder(
            value: value, codingPath: codingPath, rules: (T.self as? any ValidatedObject.Type)?.fieldRules,
            elementRule: elementRule)
        let result = try T(from: decoder)
        // The task-local flag last: read only when an unknown member was found, not for every value.
        if decoder.readAsObject, case .object(let members) = value,
           let unknown = members.first(where: { !decoder.readMembers.contains($0.key) }), !ignoresUnknownMembers {
            throw EventValidationError(
                code: .unknownProperty, codingPath: codingPath + [NameKey(unknown.key)], rule: "unknown property")
        }
        return result
    }

    static func typeMismatch(expected: String, found value: JSONValue, at codingPath: [any CodingKey]) -> EventValidationError {
        EventValidationError(code: .typeMismatch, codingPath: codingPath, rule: "expected \(expected), found \(value.kindDescription)")
    }

    private static func string(_ value: JSONValue, at codingPath: [any CodingKey]) throws -> String {
        guard case .string(let text) = value else { throw typeMismatch(expected: "a string", found: value, at: codingPath) }
        return text
    }

    private static func invalid(_ pattern: TextPattern, at codingPath: [any CodingKey]) -> EventValidationError {
        EventValidationError(code: .invalidValue, codingPath: codingPath, rule: "must be \(pattern.meaning)")
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let members) = value else {
            throw Self.typeMismatch(expected: "an object", found: value, at: codingPath)
        }
        readAsObject = true
        return KeyedDecodingContainer(KeyedContainer(decoder: self, members: members))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let elements) = value else {
            throw Self.typeMismatch(expected: "an array", found: value, at: codingPath)
        }
        return UnkeyedContainer(decoder: self, elements: elements)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        SingleValueContainer(value: value, codingPath: codingPath)
    }
}

private struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: ValidatingDecoder
    let members: [(key: String, value: JSONValue)]

    var codingPath: [any CodingKey] { decoder.codingPath }
    var allKeys: [Key] { members.compactMap { Key(stringValue: $0.key) } }

    private func member(_ key: Key) -> JSONValue? {
        decoder.readMembers.insert(key.stringValue)
        return members.first { $0.key == key.stringValue }?.value
    }

    private func required(_ key: Key) throws -> JSONValue {
        guard let value = member(key) else {
            throw EventValidationError(code: .missingProperty, codingPath: codingPath + [key], rule: "required property is missing")
        }
        return value
    }

    private func decode<T: Decodable>(_ type: T.Type, from value: JSONValue, key: Key) throws -> T {
        let rule = decoder.rules?[key.stringValue]
        try rule?.check(value, at: codingPath + [key])
        return try ValidatingDecoder.decode(T.self, from: value, at: codingPath + [key], elementRule: rule?.element)
    }

    func contains(_ key: Key) -> Bool { member(key) != nil }

    func decodeNil(forKey key: Key) throws -> Bool { try required(key) == .null }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try decode(T.self, from: required(key), key: key)
    }

    /// Absent means nil; a present `null` is still a type error.
    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let value = member(key) else { return nil }
        return try decode(T.self, from: value, key: key)
    }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try decode(type, from: required(key), key: key) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try decode(type, from: required(key), key: key) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try decode(type, from: required(key), key: key) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try decode(type, from: required(key), key: key) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try decode(type, from: required(key), key: key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try decode(type, from: required(key), key: key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try decode(type, from: required(key), key: key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try decode(type, from: required(key), key: key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try decode(type, from: required(key), key: key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try decode(type, from: required(key), key: key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try decode(type, from: required(key), key: key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try decode(type, from: required(key), key: key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try decode(type, from: required(key), key: key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try decode(type, from: required(key), key: key) }

    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { try optional(type, key) }
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { try optional(type, key) }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? { try optional(type, key) }
    func decodeIfPresent(_ type: Float.Type, forKey key: Key) throws -> Float? { try optional(type, key) }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try optional(type, key) }
    func decodeIfPresent(_ type: Int8.Type, forKey key: Key) throws -> Int8? { try optional(type, key) }
    func decodeIfPresent(_ type: Int16.Type, forKey key: Key) throws -> Int16? { try optional(type, key) }
    func decodeIfPresent(_ type: Int32.Type, forKey key: Key) throws -> Int32? { try optional(type, key) }
    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try optional(type, key) }
    func decodeIfPresent(_ type: UInt.Type, forKey key: Key) throws -> UInt? { try optional(type, key) }
    func decodeIfPresent(_ type: UInt8.Type, forKey key: Key) throws -> UInt8? { try optional(type, key) }
    func decodeIfPresent(_ type: UInt16.Type, forKey key: Key) throws -> UInt16? { try optional(type, key) }
    func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) throws -> UInt32? { try optional(type, key) }
    func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) throws -> UInt64? { try optional(type, key) }

    private func optional<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T? {
        guard let value = member(key) else { return nil }
        return try decode(T.self, from: value, key: key)
    }

    func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type, forKey key: Key
    ) throws -> KeyedDecodingContainer<NestedKey> {
        try superDecoder(forKey: key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try superDecoder(forKey: key).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        try superDecoder(forKey: Key(stringValue: "super")!)
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        try ValidatingDecoder.decode(DecoderCapture.self, from: required(key), at: codingPath + [key]).decoder
    }
}

/// Hands out the decoder itself, for `superDecoder` and nested containers.
private struct DecoderCapture: Decodable {
    let decoder: any Decoder
    init(from decoder: any Decoder) throws { self.decoder = decoder }
}

private struct UnkeyedContainer: UnkeyedDecodingContainer {
    let decoder: ValidatingDecoder
    let elements: [JSONValue]
    private(set) var currentIndex = 0

    init(decoder: ValidatingDecoder, elements: [JSONValue]) {
        self.decoder = decoder
        self.elements = elements
    }

    var codingPath: [any CodingKey] { decoder.codingPath }
    var count: Int? { elements.count }
    var isAtEnd: Bool { currentIndex >= elements.count }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, elements[currentIndex] == .null else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let path = codingPath + [IndexKey(currentIndex)]
        guard !isAtEnd else {
            throw EventValidationError(code: .missingProperty, codingPath: path, rule: "array has too few elements")
        }
        let element = elements[currentIndex]
        try decoder.elementRule?.check(element, at: path)
        let value = try ValidatingDecoder.decode(T.self, from: element, at: path)
        currentIndex += 1
        return value
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try superDecoder().container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try superDecoder().unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        try decode(DecoderCapture.self).decoder
    }
}

private struct SingleValueContainer: SingleValueDecodingContainer {
    let value: JSONValue
    let codingPath: [any CodingKey]

    func decodeNil() -> Bool { value == .null }

    func decode(_ type: Bool.Type) throws -> Bool {
        guard case .bool(let bool) = value else { throw mismatch("a boolean") }
        return bool
    }

    func decode(_ type: String.Type) throws -> String {
        guard case .string(let string) = value else { throw mismatch("a string") }
        // Well-formed JSON, but no text may hold NUL (PostgreSQL text cannot store it).
        guard !string.unicodeScalars.contains("\0") else {
            throw EventValidationError(code: .invalidValue, codingPath: codingPath, rule: "must not contain \\u0000 (NUL)")
        }
        return string
    }

    func decode(_ type: Double.Type) throws -> Double {
        switch value {
        case .integer(let integer): return Double(integer)
        case .double(let double): return double
        default: throw mismatch("a number")
        }
    }

    func decode(_ type: Float.Type) throws -> Float { Float(try decode(Double.self)) }
    func decode(_ type: Int.Type) throws -> Int { try integer() }
    func decode(_ type: Int8.Type) throws -> Int8 { try integer() }
    func decode(_ type: Int16.Type) throws -> Int16 { try integer() }
    func decode(_ type: Int32.Type) throws -> Int32 { try integer() }
    func decode(_ type: Int64.Type) throws -> Int64 { try integer() }
    func decode(_ type: UInt.Type) throws -> UInt { try integer() }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try integer() }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try integer() }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try integer() }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try integer() }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try ValidatingDecoder.decode(T.self, from: value, at: codingPath)
    }

    /// JSON Schema's `integer` includes numbers with a zero fraction (`4.0`); so does this.
    private func integer<T: FixedWidthInteger>() throws -> T {
        let result: T?
        switch value {
        case .integer(let integer): result = T(exactly: integer)
        case .double(let double):
            guard double == double.rounded(.towardZero) else {
                throw EventValidationError(code: .typeMismatch, codingPath: codingPath, rule: "expected an integer, found a fraction")
            }
            result = T(exactly: double)
        default: throw mismatch("an integer")
        }
        guard let result else {
            throw EventValidationError(code: .invalidValue, codingPath: codingPath, rule: "integer out of range")
        }
        return result
    }

    private func mismatch(_ expected: String) -> EventValidationError {
        ValidatingDecoder.typeMismatch(expected: expected, found: value, at: codingPath)
    }
}
