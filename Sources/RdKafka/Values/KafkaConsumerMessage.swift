import NIOCore

/// A record received by a ``KafkaConsumer``; its bytes are copied out of librdkafka.
public struct KafkaConsumerMessage: Sendable, Hashable {
    public var topic: String
    public var partition: KafkaPartition
    public var offset: KafkaOffset
    public var key: ByteBuffer?
    public var value: ByteBuffer
    public var headers: [KafkaHeader]
    /// The record's timestamp (create or log-append time), in milliseconds since 1970, if known.
    public var timestampMilliseconds: Int64?

    public init(
        topic: String,
        partition: KafkaPartition,
        offset: KafkaOffset,
        key: ByteBuffer?,
        value: ByteBuffer,
        headers: [KafkaHeader],
        timestampMilliseconds: Int64?
    ) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.headers = headers
        self.timestampMilliseconds = timestampMilliseconds
    }

    /// The key as UTF-8, if any.
    public var keyString: String? { key.map { String(buffer: $0) } }
    /// The value as UTF-8.
    public var valueString: String { String(buffer: value) }
}
