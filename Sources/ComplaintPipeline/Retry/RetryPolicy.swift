import Foundation
import ComplaintStore
import RdKafka

/// How the pipeline waits between attempts at a transient failure: exponential backoff with full
/// jitter, capped, so that replicas hammering a restarting database spread out.
public struct RetryPolicy: Sendable, Hashable {
    /// Delay before the second attempt (the first retry).
    public var initialDelay: Duration = .milliseconds(100)
    /// Longest delay between two attempts.
    public var maximumDelay: Duration = .seconds(10)
    /// Growth factor per attempt.
    public var multiplier: Double = 2
    /// Attempts for errors that are neither transient nor permanent (a handler bug, an unexpected
    /// database error) before the event is dead-lettered. Transient errors are retried forever:
    /// the service waits for its dependency rather than dead-lettering good events.
    public var maximumAttemptsForUnknownErrors = 5

    public init() {}

    /// The delay before attempt `attempt + 1`, after `attempt` failed attempts (`attempt >= 1`).
    public func delay(afterAttempt attempt: Int, random: inout some RandomNumberGenerator) -> Duration {
        let exponent = Double(max(0, attempt - 1))
        let ceiling = min(Double(maximumDelay.components.seconds) + Double(maximumDelay.components.attoseconds) / 1e18,
                          (Double(initialDelay.components.seconds) + Double(initialDelay.components.attoseconds) / 1e18) * pow(multiplier, exponent))
        // Full jitter: anywhere between 0 and the ceiling, but never less than a millisecond.
        let seconds = Double.random(in: 0...ceiling, using: &random)
        return .milliseconds(max(1, Int64(seconds * 1000)))
    }

    /// The delay before attempt `attempt + 1`, using the system random number generator.
    public func delay(afterAttempt attempt: Int) -> Duration {
        var generator = SystemRandomNumberGenerator()
        return delay(afterAttempt: attempt, random: &generator)
    }
}

/// What the pipeline does with an error from decoding, handling or committing.
public enum FailureKind: Sendable, Hashable {
    /// A dependency hiccup (database restart, lost connection, serialization failure, deadlock, broker
    /// down): retry with backoff, never dead-letter.
    case transient
    /// The event can never be applied: dead-letter it now.
    case permanent
    /// Neither: retry a few times, then dead-letter.
    case unknown

    /// Classifies `error`: PostgreSQL's transient SQLSTATEs and connection errors, retriable Kafka
    /// errors and cancellation-free timeouts are transient; ``PermanentError``s and validation
    /// failures are permanent.
    public static func of(_ error: any Error) -> FailureKind {
        if error is any PermanentError { return .permanent }
        if let pipelineError = error as? PipelineError, pipelineError.code == .decodingFailed || pipelineError.code == .handlerFailed {
            return .permanent
        }
        if let kafkaError = error as? KafkaError { return kafkaError.isRetriable || kafkaError.code == .messageDelivery ? .transient : .unknown }
        if PostgresErrorClassifier.isTransient(error) { return .transient }
        return .unknown
    }
}
