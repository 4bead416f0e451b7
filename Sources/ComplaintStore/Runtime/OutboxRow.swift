import NIOCore

/// A message to publish, written to the outbox in the transaction that produced it.
///
/// The fields mirror a Kafka producer message (topic, key, value, headers) plus the aggregate key that orders
/// delivery: rows with the same aggregate key (the complaint id) are published in the order they were enqueued.
public struct OutboxRow: Sendable, Hashable {
    /// The Kafka topic.
    public var topic: String
    /// The ordering key, normally the complaint id; rows with equal keys are published in enqueue order.
    public var aggregateKey: String
    /// The Kafka message key; `nil` for an unkeyed message.
    public var key: ByteBuffer?
    /// The Kafka message value.
    public var value: ByteBuffer
    /// The Kafka headers, in order (names may repeat, as in Kafka).
    public var headers: [OutboxHeader]

    /// Creates a row.
    public init(topic: String, aggregateKey: String, key: ByteBuffer?, value: ByteBuffer, headers: [OutboxHeader] = []) {
        self.topic = topic
        self.aggregateKey = aggregateKey
        self.key = key
        self.value = value
        self.headers = headers
    }

    /// Creates a row whose Kafka key is the aggregate key's UTF-8 bytes (the usual case: keyed by complaint id).
    public init(topic: String, aggregateKey: String, value: ByteBuffer, headers: [OutboxHeader] = []) {
        self.init(topic: topic, aggregateKey: aggregateKey, key: ByteBuffer(string: aggregateKey), value: value,
                  headers: headers)
    }
}
