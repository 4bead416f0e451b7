import Foundation

/// A Kafka topic typed by the payload it carries: its name, its CloudEvents `type`, and how a
/// message's key derives from the event. Use the constants of ``Topics``.
public struct Topic<Payload: EventPayload>: Sendable {
    /// The Kafka topic name, with its major version last, e.g. `complaints.received.v1`.
    public let name: String
    /// What the key is, in words, for documentation and tools (e.g. `complaint id`).
    public let keyDescription: String
    private let makeKey: @Sendable (EventEnvelope<Payload>) -> [UInt8]?

    init(name: String, keyDescription: String, key: @escaping @Sendable (EventEnvelope<Payload>) -> [UInt8]?) {
        self.name = name
        self.keyDescription = keyDescription
        self.makeKey = key
    }

    /// The same topic under another Kafka name (same payload, type and key), for deployments that
    /// prefix topic names per environment, and for tests that need a topic of their own.
    public func renamed(_ name: String) -> Topic<Payload> {
        Topic(name: name, keyDescription: keyDescription, key: makeKey)
    }

    /// The CloudEvents `type` of every event on this topic.
    public var eventType: String { Payload.eventType }

    /// The Kafka key to publish `event` with; nil only for a dead letter whose original had none.
    public func key(for event: EventEnvelope<Payload>) -> [UInt8]? { makeKey(event) }

    /// Decodes and validates a message value from this topic.
    public func decode(_ bytes: [UInt8]) throws(EventValidationError) -> EventEnvelope<Payload> {
        try EventCoding.decode(EventEnvelope<Payload>.self, from: bytes)
    }

    /// Decodes and validates a message value from this topic.
    public func decode(_ data: Data) throws(EventValidationError) -> EventEnvelope<Payload> {
        try EventCoding.decode(EventEnvelope<Payload>.self, from: data)
    }

    /// Encodes `event` as the message value, refusing events that would not validate.
    public func encode(_ event: EventEnvelope<Payload>) throws(EventValidationError) -> [UInt8] {
        try EventCoding.encode(event)
    }

    /// This topic without its payload type, for tools that handle every topic alike.
    public var erased: AnyTopic { AnyTopic(self) }
}
