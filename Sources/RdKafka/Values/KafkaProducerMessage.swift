import NIOCore

/// A record to produce: topic, optional key, value and headers.
///
/// Non-generic on purpose: Redress serialises its events itself and hands the wrapper bytes.
public struct KafkaProducerMessage: Sendable, Hashable {
    public var topic: String
    /// Records with the same key land on the same partition, in order (Redress keys by complaint id).
    public var key: ByteBuffer?
    public var value: ByteBuffer
    public var headers: [KafkaHeader]
    /// An explicit partition, or ``KafkaPartition/unassigned`` to let the key decide.
    public var partition: KafkaPartition

    public init(
        topic: String,
        key: ByteBuffer? = nil,
        value: ByteBuffer,
        headers: [KafkaHeader] = [],
        partition: KafkaPartition = .unassigned
    ) {
        self.topic = topic
        self.key = key
        self.value = value
        self.headers = headers
        self.partition = partition
    }

    /// A record whose key and value are UTF-8 strings.
    public init(topic: String, key: String?, value: String, headers: [KafkaHeader] = []) {
        self.init(topic: topic, key: key.map { ByteBuffer(string: $0) }, value: ByteBuffer(string: value), headers: headers)
    }

    /// A record whose key and value are raw bytes.
    public init(topic: String, key: [UInt8]?, value: [UInt8], headers: [KafkaHeader] = []) {
        self.init(topic: topic, key: key.map { ByteBuffer(bytes: $0) }, value: ByteBuffer(bytes: value), headers: headers)
    }
}

/// Identifies one produced message in its delivery report.
public struct KafkaProducerMessageID: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public var description: String { String(rawValue) }
}
