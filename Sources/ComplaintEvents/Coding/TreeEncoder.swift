import Foundation

/// An `Encoder` that builds a ``JSONValue``, writing `Date`, `UUID` and `Data` in the wire
/// formats of the schemas (RFC 3339 UTC milliseconds, lower-case UUID, padded base64).
///
/// Optionals that are nil are omitted, as the schemas never allow `null`.
final class TreeEncoder: Encoder {
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    fileprivate var result: Node?

    fileprivate init(codingPath: [any CodingKey]) {
        self.codingPath = codingPath
    }

    /// Encodes `value`, which sits at `codingPath`, into a tree.
    static func encode<T: Encodable>(_ value: T, at codingPath: [any CodingKey] = []) throws -> JSONValue {
        try node(for: value, at: codingPath).resolved()
    }

    fileprivate static func node<T: Encodable>(for value: T, at codingPath: [any CodingKey]) throws -> Node {
        switch value {
        case let date as Date: return .value(.string(EventTimestamp.string(from: date)))
        case let uuid as UUID: return .value(.string(uuid.uuidString.lowercased()))
        case let data as Data: return .value(.string(data.base64EncodedString()))
        case let embedded as EmbeddedJSON:
            return .value(try JSONParser.parse(embedded.bytes, maximumSize: Int.max, maximumDepth: EventCoding.maximumNestingDepth * 4))
        default:
            let encoder = TreeEncoder(codingPath: codingPath)
            try value.encode(to: encoder)
            return encoder.result ?? .object(ObjectBox())
        }
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let box: ObjectBox
        if case .object(let existing) = result {
            box = existing
        } else {
            box = ObjectBox()
            result = .object(box)
        }
        return KeyedEncodingContainer(KeyedContainer(box: box, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let box: ArrayBox
        if case .array(let existing) = result {
            box = existing
        } else {
            box = ArrayBox()
            result = .array(box)
        }
        return UnkeyedContainer(box: box, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleValueContainer(encoder: self)
    }
}

/// A node under construction; containers share boxes so nested containers can fill them later.
fileprivate enum Node {
    case value(JSONValue)
    case object(ObjectBox)
    case array(ArrayBox)
    case deferred(TreeEncoder)

    func resolved() -> JSONValue {
        switch self {
        case .value(let value): value
        case .object(let box): .object(box.members.map { ($0.key, $0.node.resolved()) })
        case .array(let box): .array(box.elements.map { $0.resolved() })
        case .deferred(let encoder): encoder.result?.resolved() ?? .object([])
        }
    }

    static func number<T: BinaryFloatingPoint>(_ value: T, at codingPath: [any CodingKey]) throws -> Node {
        guard value.isFinite else {
            throw EncodingError.invalidValue(
                value, EncodingError.Context(codingPath: codingPath, debugDescription: "not a finite number"))
        }
        return .value(.double(Double(value)))
    }

    static func integer<T: BinaryInteger>(_ value: T, at codingPath: [any CodingKey]) throws -> Node {
        guard let integer = Int64(exactly: value) else {
            throw EncodingError.invalidValue(
                value, EncodingError.Context(codingPath: codingPath, debugDescription: "integer out of range"))
        }
        return .value(.integer(integer))
    }
}

fileprivate final class ObjectBox {
    var members: [(key: String, node: Node)] = []

    func set(_ node: Node, for key: String) {
        if let index = members.firstIndex(where: { $0.key == key }) {
            members[index].node = node
        } else {
            members.append((key, node))
        }
    }
}

fileprivate final class ArrayBox {
    var elements: [Node] = []
}

private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let box: ObjectBox
    let codingPath: [any CodingKey]

    mutating func encodeNil(forKey key: Key) { box.set(.value(.null), for: key.stringValue) }
    mutating func encode(_ value: Bool, forKey key: Key) { box.set(.value(.bool(value)), for: key.stringValue) }
    mutating func encode(_ value: String, forKey key: Key) { box.set(.value(.string(value)), for: key.stringValue) }
    mutating func encode(_ value: Double, forKey key: Key) throws {
        box.set(try .number(value, at: codingPath + [key]), for: key.stringValue)
    }
    mutating func encode(_ value: Float, forKey key: Key) throws {
        box.set(try .number(value, at: codingPath + [key]), for: key.stringValue)
    }
    mutating func encode(_ value: Int, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try integer(value, key) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        box.set(try TreeEncoder.node(for: value, at: codingPath + [key]), for: key.stringValue)
    }

    private func integer<T: BinaryInteger>(_ value: T, _ key: Key) throws {
        box.set(try .integer(value, at: codingPath + [key]), for: key.stringValue)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        let nested = ObjectBox()
        box.set(.object(nested), for: key.stringValue)
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(box: nested, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let nested = ArrayBox()
        box.set(.array(nested), for: key.stringValue)
        return UnkeyedContainer(box: nested, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder { superEncoder(forKey: Key(stringValue: "super")!) }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        let encoder = TreeEncoder(codingPath: codingPath + [key])
        box.set(.deferred(encoder), for: key.stringValue)
        return encoder
    }
}

private struct UnkeyedContainer: UnkeyedEncodingContainer {
    let box: ArrayBox
    let codingPath: [any CodingKey]
    var count: Int { box.elements.count }

    private var nextPath: [any CodingKey] { codingPath + [IndexKey(count)] }

    mutating func encodeNil() { box.elements.append(.value(.null)) }
    mutating func encode(_ value: Bool) { box.elements.append(.value(.bool(value))) }
    mutating func encode(_ value: String) { box.elements.append(.value(.string(value))) }
    mutating func encode(_ value: Double) throws { box.elements.append(try .number(value, at: nextPath)) }
    mutating func encode(_ value: Float) throws { box.elements.append(try .number(value, at: nextPath)) }
    mutating func encode(_ value: Int) throws { box.elements.append(try .integer(value, at: nextPath)) }
    mutating func encode(_ value: Int8) throws { box.elements.append(try .integer(value, at: nextPath)) }
    mutating func encode(_ value: Int16) throws { box.elements.append(try .integer(value, at: nextPath)) }
    mutating func encode(_ value: Int32) throws { box.elements.append(try .integer(value, at: nextPath)) }
    mutating func encode(_ value: Int64) throws { box.elements.append(try .integer(value, at: nextPath)) }
    mutating func encode(_ value: UInt) throws { box.elements.append(try .integer(value, at: nextPath)) }
    mutating func encode(_ value: UInt8) throws { box.elements.append(try .integer(value, at: nextPath)) }
    mutating func encode(_ value: UInt16) throws { box.elements.append(try .integer(value, at: nextPath)) }
    mutating func encode(_ value: UInt32) throws { box.elements.append(try .integer(value, at: nextPath)) }
    mutating func encode(_ value: UInt64) throws { box.elements.append(try .integer(value, at: nextPath)) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        box.elements.append(try TreeEncoder.node(for: value, at: nextPath))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let nested = ObjectBox()
        let path = nextPath
        box.elements.append(.object(nested))
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(box: nested, codingPath: path))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let nested = ArrayBox()
        let path = nextPath
        box.elements.append(.array(nested))
        return UnkeyedContainer(box: nested, codingPath: path)
    }

    mutating func superEncoder() -> any Encoder {
        let encoder = TreeEncoder(codingPath: nextPath)
        box.elements.append(.deferred(encoder))
        return encoder
    }
}

private struct SingleValueContainer: SingleValueEncodingContainer {
    let encoder: TreeEncoder
    var codingPath: [any CodingKey] { encoder.codingPath }

    private func store(_ node: Node) { encoder.result = node }

    mutating func encodeNil() { store(.value(.null)) }
    mutating func encode(_ value: Bool) { store(.value(.bool(value))) }
    mutating func encode(_ value: String) { store(.value(.string(value))) }
    mutating func encode(_ value: Double) throws { store(try .number(value, at: codingPath)) }
    mutating func encode(_ value: Float) throws { store(try .number(value, at: codingPath)) }
    mutating func encode(_ value: Int) throws { store(try .integer(value, at: codingPath)) }
    mutating func encode(_ value: Int8) throws { store(try .integer(value, at: codingPath)) }
    mutating func encode(_ value: Int16) throws { store(try .integer(value, at: codingPath)) }
    mutating func encode(_ value: Int32) throws { store(try .integer(value, at: codingPath)) }
    mutating func encode(_ value: Int64) throws { store(try .integer(value, at: codingPath)) }
    mutating func encode(_ value: UInt) throws { store(try .integer(value, at: codingPath)) }
    mutating func encode(_ value: UInt8) throws { store(try .integer(value, at: codingPath)) }
    mutating func encode(_ value: UInt16) throws { store(try .integer(value, at: codingPath)) }
    mutating func encode(_ value: UInt32) throws { store(try .integer(value, at: codingPath)) }
    mutating func encode(_ value: UInt64) throws { store(try .integer(value, at: codingPath)) }
    mutating func encode<T: Encodable>(_ value: T) throws { store(try TreeEncoder.node(for: value, at: codingPath)) }
}
