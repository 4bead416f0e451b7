import NIOCore

/// One Kafka record header: a name and an optional value.
public struct KafkaHeader: Sendable, Hashable {
    public var key: String
    public var value: ByteBuffer?

    public init(key: String, value: ByteBuffer?) {
        self.key = key
        self.value = value
    }

    /// A header whose value is the UTF-8 bytes of `value`.
    public init(key: String, value: String) {
        self.key = key
        self.value = ByteBuffer(string: value)
    }

    /// The value decoded as UTF-8, if there is one.
    public var stringValue: String? {
        value.map { String(buffer: $0) }
    }
}

extension Array where Element == KafkaHeader {
    /// The value of the first header named `key`, as a string.
    public func first(named key: String) -> String? {
        first { $0.key == key }?.stringValue
    }
}
