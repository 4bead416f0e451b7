import Foundation
import NIOCore

/// An outbox row as the relay sees it after claiming it: the message plus its bookkeeping.
public struct OutboxRecord: Sendable, Hashable {
    /// The row id; pass it to ``Outbox/markSent(ids:on:logger:)`` or ``Outbox/release(id:error:claim:retryAfter:on:logger:)``.
    public var id: Int64
    /// The Kafka topic.
    public var topic: String
    /// The ordering key (complaint id).
    public var aggregateKey: String
    /// The Kafka message key.
    public var key: ByteBuffer?
    /// The Kafka message value.
    public var value: ByteBuffer
    /// The Kafka headers, in order.
    public var headers: [OutboxHeader]
    /// When the row was enqueued (the producing transaction's start time).
    public var createdAt: Date
    /// How many publish attempts failed before this claim.
    public var attempts: Int
}
