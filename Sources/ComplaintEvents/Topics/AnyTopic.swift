/// A ``Topic`` with its payload type erased, for code that handles topics by name: the
/// operator CLI's `tail`, contract tests, and dead-letter replays.
public struct AnyTopic: Sendable, CustomStringConvertible {
    public let name: String
    public let eventType: String
    public let keyDescription: String
    private let validateBytes: @Sendable ([UInt8]) throws(EventValidationError) -> Void
    private let reformatBytes: @Sendable ([UInt8]) throws(EventValidationError) -> [UInt8]

    public init<Payload>(_ topic: Topic<Payload>) {
        name = topic.name
        eventType = topic.eventType
        keyDescription = topic.keyDescription
        validateBytes = { bytes throws(EventValidationError) in _ = try topic.decode(bytes) }
        reformatBytes = { bytes throws(EventValidationError) in
            try EventCoding.encode(try topic.decode(bytes), prettyPrinted: true)
        }
    }

    /// Throws the first rule `bytes` break as a message value of this topic.
    public func validate(_ bytes: [UInt8]) throws(EventValidationError) { try validateBytes(bytes) }

    /// Validates `bytes` and returns them as indented JSON with sorted members, for display.
    public func prettyPrinted(_ bytes: [UInt8]) throws(EventValidationError) -> [UInt8] { try reformatBytes(bytes) }

    public var description: String { "\(name) (\(eventType), key: \(keyDescription))" }
}
