import ComplaintEvents
import Foundation
import Logging
import Metrics
import NIOCore
import RdKafka
import ServiceLifecycle

/// Sends messages a stage cannot process to `complaints.deadletter.v1`, with the original key, value
/// and headers, the reason and where they came from, so that nothing is dropped silently.
///
/// The record goes out with `sendAndAwait`; the caller stores the original's offset only after it
/// was acknowledged. A broker outage is waited out (retried with backoff) rather than skipped.
public struct DeadLetterPublisher: Sendable {
    let producer: KafkaProducer
    let serviceName: String
    let topic: String
    let retry: RetryPolicy
    let logger: Logger
    /// `false` in a replay: the reason is logged and the message counts as settled, nothing is sent
    /// (the live service dead-lettered the same message already).
    public var publishes = true

    /// - Parameter topic: The dead-letter topic; `complaints.deadletter.v1` unless renamed.
    public init(producer: KafkaProducer, serviceName: String, topic: String = Topics.deadLetter.name, retry: RetryPolicy = RetryPolicy(), logger: Logger) {
        self.producer = producer
        self.serviceName = serviceName
        self.topic = topic
        self.retry = retry
        self.logger = logger
    }

    /// Publishes a dead letter for `message`.
    ///
    /// A send already handed to the producer is never given up at graceful shutdown: the producer
    /// delivers it while it drains whatever the caller does, so its delivery report is awaited
    /// (librdkafka reports within `message.timeout.ms`). Giving up on it stored no offset, and the
    /// redelivered original was dead-lettered a second time after the restart. Only the wait between
    /// failed attempts ends at shutdown.
    /// - Returns: `true` once acknowledged; `false` if a send failed and graceful shutdown began (or
    ///   the task was cancelled) before another could be acknowledged (the original will be
    ///   redelivered after restart).
    public func publish(_ message: KafkaConsumerMessage, reason: String, attempts: Int) async -> Bool {
        guard publishes else {
            logger.warning("message would be dead-lettered (replay: not published)", metadata: [
                LoggingKeys.kafkaTopic: "\(message.topic)", LoggingKeys.kafkaPartition: "\(message.partition)",
                LoggingKeys.kafkaOffset: "\(message.offset)", LoggingKeys.errorReason: "\(reason)",
            ])
            return true
        }
        let record = DeadLetterRecord(
            reason: reason,
            sourceTopic: message.topic,
            partition: Int(message.partition.rawValue),
            offset: message.offset.rawValue,
            service: serviceName,
            attempts: max(1, attempts),
            failedAt: Date(),
            originalKey: message.key.map { Array($0.readableBytesView) },
            originalValue: Array(message.value.readableBytesView),
            originalHeaders: message.headers.map { ($0.key, $0.value.map { Array($0.readableBytesView) }) }
        )
        let outgoing = outgoingMessage(for: record)
        var attempt = 1
        while true {
            do {
                // Not cancelled at graceful shutdown: once produced, the message goes out as the producer
                // drains, so "not sent" would bring the original back to be dead-lettered again.
                _ = try await producer.sendAndAwait(outgoing)
                Counter(label: "pipeline_dead_letters_total", dimensions: [("service", serviceName), ("topic", message.topic)]).increment()
                logger.warning("message dead-lettered", metadata: [
                    LoggingKeys.kafkaTopic: "\(message.topic)", LoggingKeys.kafkaPartition: "\(message.partition)",
                    LoggingKeys.kafkaOffset: "\(message.offset)", LoggingKeys.errorReason: "\(record.reason)",
                ])
                return true
            } catch {
                if Task.isShuttingDownGracefully || Task.isCancelled { return false }
                logger.info("dead-letter publish failed; retrying", metadata: [LoggingKeys.error: "\(error)", LoggingKeys.attempt: "\(attempt)"])
                guard await PipelineSleep.sleep(retry.delay(afterAttempt: attempt)) else { return false }
                attempt += 1
            }
        }
    }

    /// The Kafka message that carries `record` to the dead-letter topic: the record, validated (with a plain
    /// reason if its quoted text does not validate), under the original's cut key.
    public func outgoingMessage(for record: DeadLetterRecord) -> KafkaProducerMessage {
        let value: [UInt8]
        do {
            value = try Topics.deadLetter.encode(EventEnvelope(deadLetter: record, time: Date()))
        } catch {
            // The record quotes outside text (the reason, header keys); should any of it still not
            // validate, the original's bytes go out under a plain reason and without its headers,
            // rather than trap and meet the same message again after the restart.
            logger.error("dead-letter record does not validate; sending it with a plain reason", metadata: [LoggingKeys.error: "\(error)"])
            var plain = record
            plain.reason = "the reason could not be recorded: \(error)".storable(maximumScalars: DeadLetterRecord.maximumReasonLength)
            plain.originalHeaders = []
            guard let encoded = try? Topics.deadLetter.encode(EventEnvelope(deadLetter: plain, time: Date())) else {
                preconditionFailure("dead-letter record does not validate even with a plain reason: \(error)")
            }
            value = encoded
        }
        var headers = DeadLetterHeaders.headers(for: record).map { KafkaHeader(key: $0.name, value: $0.value) }
        headers.append(KafkaHeader(key: EventHeaders.contentTypeName, value: EventHeaders.contentType))
        return KafkaProducerMessage(
            topic: topic,
            // The record's cut key: an original key near the broker's size limit would make the dead
            // letter too large to publish, and the partition would wait on it for ever.
            key: record.originalKey.map { ByteBuffer(bytes: $0) },
            value: ByteBuffer(bytes: value),
            headers: headers
        )
    }
}

/// Sleeps that end early, returning `false`, when graceful shutdown begins or the task is cancelled.
enum PipelineSleep {
    static func sleep(_ duration: Duration) async -> Bool {
        if Task.isShuttingDownGracefully || Task.isCancelled { return false }
        do {
            try await cancelWhenGracefulShutdown { try await Task.sleep(for: duration) }
        } catch {
            return false
        }
        return !Task.isShuttingDownGracefully && !Task.isCancelled
    }
}
