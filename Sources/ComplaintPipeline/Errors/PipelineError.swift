/// Errors of the consume → apply → publish runtime.
///
/// Shaped like ``RdKafka/KafkaError``: a stable ``Code``, a precise ``reason`` (usable verbatim as a
/// dead-letter reason), and where it was raised.
public struct PipelineError: Error, Hashable, CustomStringConvertible {
    /// The kind of failure, stable across releases: it is the dead-letter reason.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Backing: String, Hashable, Sendable {
            case decodingFailed, handlerFailed, publishFailed, retriesExhausted
        }
        private let backing: Backing
        private init(_ backing: Backing) { self.backing = backing }

        /// The message is not a valid event of the stage's input topic.
        public static let decodingFailed = Code(.decodingFailed)
        /// The handler rejected the event for good (a permanent error).
        public static let handlerFailed = Code(.handlerFailed)
        /// Publishing to Kafka failed.
        public static let publishFailed = Code(.publishFailed)
        /// A retriable error kept coming back for longer than the retry policy allows.
        public static let retriesExhausted = Code(.retriesExhausted)

        public var description: String { backing.rawValue }
    }

    public let code: Code
    public let reason: String
    let file: String
    let line: UInt

    public var description: String { "PipelineError.\(code): \(reason) \(file):\(line)" }

    static func decodingFailed(_ reason: String, file: String = #fileID, line: UInt = #line) -> PipelineError {
        PipelineError(code: .decodingFailed, reason: reason, file: file, line: line)
    }

    static func handlerFailed(_ reason: String, file: String = #fileID, line: UInt = #line) -> PipelineError {
        PipelineError(code: .handlerFailed, reason: reason, file: file, line: line)
    }

    static func publishFailed(_ reason: String, file: String = #fileID, line: UInt = #line) -> PipelineError {
        PipelineError(code: .publishFailed, reason: reason, file: file, line: line)
    }
}

/// A handler throws this (or any error conforming to ``PermanentError``) for an event that can never
/// be applied, e.g. a domain rule it violates: the event goes to the dead-letter topic at once
/// instead of being retried.
public protocol PermanentError: Error, CustomStringConvertible {}

/// A ready-made ``PermanentError`` with a reason.
public struct RejectedEvent: PermanentError, Hashable {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}
