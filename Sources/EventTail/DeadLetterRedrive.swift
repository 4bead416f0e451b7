import ComplaintEvents
import Foundation
import NIOCore
import RdKafka

/// Puts dead letters' originals back on their source topics (`redress deadletter redrive`): the
/// original key, value and headers, plus ``redrivenFromHeader`` naming the dead letter, each awaited
/// until the broker acknowledges it. A record that cannot be an exact copy of its original is refused.
///
/// What a redrive does downstream: every consumer group of the source topic receives the copy. The
/// copy carries the original's event id; a stage skips an id its inbox holds (it applied it already)
/// and applies one it does not — the service that dead-lettered it rolled its transaction back, so
/// its inbox does not hold it. The copy has a new Kafka timestamp (the time of the redrive), so the
/// inbox horizon (`INBOX_RETENTION_DAYS`, messages stamped before it are passed over unapplied) never
/// passes it over. But the inbox forgets ids after `INBOX_RETENTION_DAYS`: a group that applied the
/// original longer ago than that would apply the copy a second time. A dead letter that failed longer
/// ago than the window (``DeadLetter/originalTime``) is therefore refused unless forced.
public struct DeadLetterRedrive: Sendable {
    /// The header added to the copy: `<dead-letter topic>/<partition>/<offset>` of the dead letter.
    public static let redrivenFromHeader = "redress-redriven-from"

    /// How long the services' inboxes remember an event (`INBOX_RETENTION_DAYS`).
    public var inboxWindow: Duration
    /// Redrive dead letters older than ``inboxWindow`` too.
    public var force = false

    public init(inboxWindow: Duration) {
        self.inboxWindow = inboxWindow
    }

    /// Why `letter` is not redriven at `now`, or `nil` when it can be.
    public func refusal(_ letter: DeadLetter, now: Date = Date()) -> String? {
        let record = letter.record
        if record.isValueTruncated {
            return "its value was truncated (\(record.originalValue?.count ?? 0) of \(record.originalValueSize) bytes kept): a redrive would publish a different message"
        }
        if record.sourceTopic == letter.topic || record.sourceTopic.hasSuffix(Topics.deadLetter.name) {
            return "its source topic \(EventLine.printable(record.sourceTopic)) is a dead-letter topic: publishing there would only make another dead letter"
        }
        let age = now.timeIntervalSince(letter.originalTime)
        if !force, age > inboxWindow / .seconds(1) {
            let days = (age / 86_400).formatted(.number.precision(.fractionLength(1)))
            return "its original is \(days) days old, older than the inboxes remember (INBOX_RETENTION_DAYS \(Int(inboxWindow / .seconds(86_400)))): "
                + "services that applied it may apply it again; --force redrives it anyway"
        }
        return nil
    }

    /// The copy of `letter`'s original for its source topic: key, value and headers as they were, plus
    /// ``redrivenFromHeader``. The key decides the partition, as it did for the original.
    public func message(for letter: DeadLetter) -> KafkaProducerMessage {
        let record = letter.record
        var headers = record.originalHeaders.map { KafkaHeader(key: $0.key, value: $0.value.map { ByteBuffer(bytes: $0) }) }
        headers.append(KafkaHeader(key: Self.redrivenFromHeader, value: "\(letter.topic)/\(letter.position.partition)/\(letter.position.offset)"))
        return KafkaProducerMessage(
            topic: record.sourceTopic,
            key: record.originalKey.map { ByteBuffer(bytes: $0) },
            value: ByteBuffer(bytes: record.originalValue ?? Data()),
            headers: headers)
    }

    /// What became of one dead letter.
    public enum Outcome: Sendable, Equatable {
        /// Published and acknowledged at this partition and offset of the source topic.
        case sent(partition: Int32, offset: Int64)
        /// Would be sent (a dry run).
        case wouldSend
        case refused(String)
        /// The broker did not take it.
        case failed(String)
    }

    /// Redrives `letters` in order with `producer` (running), or only says what it would do when
    /// `dryRun`; `report` gets each outcome as it happens.
    public func redrive(
        _ letters: [DeadLetter], producer: KafkaProducer?, dryRun: Bool, now: Date = Date(), report: (DeadLetter, Outcome) -> Void
    ) async -> [Outcome] {
        var outcomes: [Outcome] = []
        // A message for a topic the cluster lacks would wait out the producer's message timeout (or,
        // with automatic creation, make a topic under a mistyped prefix).
        var missing: Set<String> = []
        if let producer, !dryRun {
            let topics = Array(Set(letters.map(\.record.sourceTopic))).sorted()
            do {
                missing = Set(try await producer.missingTopics(topics, timeout: .seconds(10)))
            } catch {
                return letters.map { letter in
                    let outcome = Outcome.failed("the cluster did not list its topics: \(error)")
                    report(letter, outcome)
                    return outcome
                }
            }
        }
        for letter in letters {
            let outcome: Outcome
            if let refusal = refusal(letter, now: now) {
                outcome = .refused(refusal)
            } else if missing.contains(letter.record.sourceTopic) {
                outcome = .refused("its source topic \(EventLine.printable(letter.record.sourceTopic)) does not exist on this cluster (another --prefix?)")
            } else if dryRun || producer == nil {
                outcome = .wouldSend
            } else {
                do {
                    let delivery = try await producer!.sendAndAwait(message(for: letter))
                    switch delivery.status {
                    case .acknowledged(let partition, let offset): outcome = .sent(partition: partition.rawValue, offset: offset.rawValue)
                    case .failure(let error): outcome = .failed("\(error)")
                    }
                } catch {
                    outcome = .failed("\(error)")
                }
            }
            report(letter, outcome)
            outcomes.append(outcome)
        }
        return outcomes
    }

    /// The line printed for `letter`'s outcome.
    public static func line(_ letter: DeadLetter, _ outcome: Outcome) -> String {
        let record = letter.record
        let original = "\(EventLine.printable(record.sourceTopic))@\(record.partition)/\(record.offset)"
        let size = "key \(record.originalKey?.count ?? 0) B, value \(record.originalValue?.count ?? 0) B, \(record.originalHeaders.count + 1) headers"
        switch outcome {
        case .sent(let partition, let offset):
            return "sent     \(letter.position) → \(EventLine.printable(record.sourceTopic)) partition \(partition) offset \(offset) (original \(original); \(size))"
        case .wouldSend:
            return "would send \(letter.position) → \(EventLine.printable(record.sourceTopic)) (original \(original); \(size))"
        case .refused(let reason):
            return "REFUSED  \(letter.position) (original \(original)): \(reason)"
        case .failed(let reason):
            return "FAILED   \(letter.position) (original \(original)): \(EventLine.printable(reason))"
        }
    }
}
