import ComplaintEvents
import ComplaintStore
import Foundation
import NIOCore

/// An event a handler wants published: already encoded and validated, keyed for its topic, and
/// ordered with the other events of its complaint (the aggregate key).
public struct OutgoingEvent: Sendable, Hashable {
    /// The outbox row this event becomes.
    public let row: OutboxRow

    /// Encodes `event` for `topic`.
    /// - Throws: An ``ComplaintEvents/EventValidationError`` if the event would not validate against
    ///   its schema (a bug in the handler: such an event must never reach other services).
    public init<Payload>(_ event: EventEnvelope<Payload>, on topic: Topic<Payload>) throws {
        let value = try topic.encode(event)
        let key = topic.key(for: event)
        let aggregateKey = event.subject ?? key.map { String(decoding: $0, as: UTF8.self) } ?? event.id.uuidString.lowercased()
        self.row = OutboxRow(
            topic: topic.name,
            aggregateKey: aggregateKey,
            key: key.map { ByteBuffer(bytes: $0) },
            value: ByteBuffer(bytes: value),
            headers: [
                OutboxHeader(key: EventHeaders.contentTypeName, value: EventHeaders.contentType),
                OutboxHeader(key: "ce_type", value: event.type),
                OutboxHeader(key: "ce_id", value: event.id.uuidString.lowercased()),
                OutboxHeader(key: "hotelid", value: event.hotelID),
            ]
        )
    }
}
