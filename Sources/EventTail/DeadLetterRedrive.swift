import ComplaintEvents
import Foundation
import NIOCore
import RdKafka

/// How long the services' inboxes remember an event (`INBOX_RETENTION_DAYS`) as a redrive assumes it,
/// and where that figure came from, so that every refusal and summary can say what was assumed.
public struct InboxWindow: Sendable, Equatable, CustomStringConvertible {
    public var days: Int
    /// `--inbox-retention-days` or `$INBOX_RETENTION_DAYS`.
    public var source: String

    public init(days: Int, source: String) {
        self.days = days
        self.source = source
    }

    /// A consumer group lagging behind reads the copy some time after the redrive; its inbox may have
    /// forgotten the original by then. A day covers the lag an operator would not notice (a longer one
    /// shows on `redress topics` and the lag alerts).
    public static let lagMargin: Duration = .seconds(86_400)

    /// The oldest original redriven without --force: the window less ``lagMargin`` (nothing at a window of a day).
    public var limit: Duration { .seconds(days * 86_400) - Self.lagMargin }

    public var description: String {
        "INBOX_RETENTION_DAYS \(days) (from \(source)), less a day's margin for consumer lag"
    }

    /// The window from `--inbox-retention-days` (`option`), else `$INBOX_RETENTION_DAYS` (`environment`).
    /// Neither: `nil` when `force` (nothing is checked against it), else an error. No figure is assumed,
    /// since services accept 1 to 3650 days and a guess larger than the smallest of them would let a
    /// group apply an original twice; use the smallest INBOX_RETENTION_DAYS of any service reading the
    /// source topics.
    public static func resolve(option: Int?, environment: String?, force: Bool) throws(DeadLetterSettingError) -> InboxWindow? {
        if let option {
            guard (1...3650).contains(option) else { throw DeadLetterSettingError("--inbox-retention-days must be 1 to 3650, as the services accept") }
            return InboxWindow(days: option, source: "--inbox-retention-days")
        }
        if let environment {
            guard let days = Int(environment), (1...3650).contains(days) else {
                throw DeadLetterSettingError("INBOX_RETENTION_DAYS '\(environment)' is not a whole number of days from 1 to 3650")
            }
            return InboxWindow(days: days, source: "$INBOX_RETENTION_DAYS")
        }
        if force { return nil }
        throw DeadLetterSettingError(
            "say how long the services' inboxes remember an event: --inbox-retention-days N (or INBOX_RETENTION_DAYS), the smallest "
                + "INBOX_RETENTION_DAYS of any service reading the source topics (9 unless they set it); --force redrives without the check")
    }
}

/// A `redress deadletter` option or setting that cannot be used, said as the operator should read it.
public struct DeadLetterSettingError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Puts dead letters' originals back on their source topics (`redress deadletter redrive`): the
/// original key, value and headers, plus ``redrivenFromHeader`` naming the dead letter, each awaited
/// until the broker acknowledges it. A record that cannot be an exact copy of its original is refused:
/// one whose value was truncated always; unless forced, one that may have been cut or altered when it
/// was recorded (``fidelityDoubt(_:)``).
///
/// A consumer's dead letter goes back to the partition its original was read from (when the topic
/// still has it), where the complaint's other events are: a publisher outside Redress may partition
/// keys differently (Java's murmur2, not librdkafka's CRC32). An outbox row's dead letter was never
/// published, so its key decides, as it would have.
///
/// What a redrive does downstream: every consumer group of the source topic receives the copy. The
/// copy carries the original's event id; a stage skips an id its inbox holds (it applied it already)
/// and applies one it does not — the service that dead-lettered it rolled its transaction back, so
/// its inbox does not hold it. The copy has a new Kafka timestamp (the time of the redrive), so the
/// inbox horizon (`INBOX_RETENTION_DAYS`, messages stamped before it are passed over unapplied) never
/// passes it over. But the inbox forgets ids after `INBOX_RETENTION_DAYS`: a group that applied the
/// original longer ago than that, or reads the copy later than that because it lags, would apply it a
/// second time. An original older than the window less a day (``InboxWindow/limit``, from
/// ``DeadLetter/originalTime``) is therefore refused unless forced.
///
/// A copy that fails again is dead-lettered again, its original headers naming the first dead letter
/// in ``redrivenFromHeader``; a redrive that selects both skips the later one, so repeated runs while
/// the cause is unfixed send each original once, not twice, four times, ….
public struct DeadLetterRedrive: Sendable {
    /// The header added to the copy: `<dead-letter topic>/<partition>/<offset>` of the dead letter.
    public static let redrivenFromHeader = "redress-redriven-from"

    /// The services' inbox window; `nil` only with ``force`` (not checked).
    public var window: InboxWindow?
    /// Redrive dead letters older than the window, and those ``fidelityDoubt(_:)`` doubts, too.
    public var force = false

    public init(window: InboxWindow?) {
        self.window = window
    }

    /// A window of `inboxWindow` whole days given as `--inbox-retention-days`.
    public init(inboxWindow: Duration) {
        self.init(window: InboxWindow(days: Int(inboxWindow / .seconds(86_400)), source: "--inbox-retention-days"))
    }

    /// What the run assumes, for its summary.
    public var assumption: String {
        guard let window else { return "inbox window not checked (--force, no --inbox-retention-days or INBOX_RETENTION_DAYS)" }
        let days = (window.limit / .seconds(86_400)).formatted(.number.precision(.fractionLength(0...1)))
        return "inbox window \(window)\(force ? "; not checked (--force)" : ": originals older than \(days) days refused")"
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
        if force { return nil }
        if let doubt = Self.fidelityDoubt(record) {
            return "\(doubt): the copy may not be the original as it was; --force redrives it anyway"
        }
        guard let window else { return "no inbox window given (--inbox-retention-days or INBOX_RETENTION_DAYS): --force redrives it anyway" }
        let age = now.timeIntervalSince(letter.originalTime)
        if age > window.limit / .seconds(1) {
            let days = (age / 86_400).formatted(.number.precision(.fractionLength(1)))
            return "its original is \(days) days old, too close to or past what the inboxes remember (\(window): a group that lags "
                + "may read the copy after its inbox forgot the original): services that applied it may apply it again; --force redrives it anyway"
        }
        return nil
    }

    /// Why `record` may not hold its original exactly, or `nil`: a dead letter cuts keys, header values,
    /// header keys and the number of headers at their limits (``DeadLetterRecord``) without saying so,
    /// and records a NUL in a header key as U+FFFD. One exactly at a limit may have been cut.
    public static func fidelityDoubt(_ record: DeadLetterRecord) -> String? {
        if let key = record.originalKey, key.count >= DeadLetterRecord.maximumKeySize {
            return "its key is \(key.count) bytes, the most a dead letter keeps (it may have been cut)"
        }
        if record.originalHeaders.count >= DeadLetterRecord.maximumHeaders {
            return "it has \(record.originalHeaders.count) headers, the most a dead letter keeps (later ones may have been dropped)"
        }
        for header in record.originalHeaders {
            let name = EventLine.printable(header.key).debugDescription
            if let value = header.value, value.count >= DeadLetterRecord.maximumHeaderValueSize {
                return "header \(name) has a value of \(value.count) bytes, the most a dead letter keeps (it may have been cut)"
            }
            if header.key.unicodeScalars.count >= DeadLetterRecord.maximumHeaderKeyLength {
                return "header key \(name) is \(header.key.unicodeScalars.count) characters, the most a dead letter keeps (it may have been cut)"
            }
            if header.key.unicodeScalars.contains("\u{FFFD}") {
                return "header key \(name) contains U+FFFD (a NUL or bytes that were no UTF-8 were replaced when it was recorded)"
            }
        }
        return nil
    }

    /// Whether `letter` is an outbox row's: never published, so it has no partition of its own.
    static func isOutboxRow(_ letter: DeadLetter) -> Bool { letter.record.reason.hasPrefix("outbox row") }

    /// The partition for `letter`'s copy, given the `partitions` its source topic has (`nil`: unknown):
    /// a consumer's original partition when the topic has it, else ``KafkaPartition/unassigned`` (the key decides).
    public static func partition(for letter: DeadLetter, partitions: Set<Int32>?) -> KafkaPartition {
        guard !isOutboxRow(letter), let partition = Int32(exactly: letter.record.partition), partitions?.contains(partition) == true else {
            return .unassigned
        }
        return KafkaPartition(rawValue: partition)
    }

    /// The copy of `letter`'s original for its source topic: key, value and headers as they were, plus
    /// ``redrivenFromHeader``, for `partition` (see ``partition(for:partitions:)``).
    public func message(for letter: DeadLetter, partition: KafkaPartition = .unassigned) -> KafkaProducerMessage {
        let record = letter.record
        var headers = record.originalHeaders.map { KafkaHeader(key: $0.key, value: $0.value.map { ByteBuffer(bytes: $0) }) }
        headers.append(KafkaHeader(key: Self.redrivenFromHeader, value: Self.reference(letter)))
        return KafkaProducerMessage(
            topic: record.sourceTopic,
            key: record.originalKey.map { ByteBuffer(bytes: $0) },
            value: ByteBuffer(bytes: record.originalValue ?? Data()),
            headers: headers,
            partition: partition)
    }

    /// ``redrivenFromHeader``'s value for `letter`.
    static func reference(_ letter: DeadLetter) -> String { "\(letter.topic)/\(letter.position.partition)/\(letter.position.offset)" }

    /// The selected dead letter `letter`'s original was redriven from, when `letter` is a copy that failed again.
    static func redrivenFrom(_ letter: DeadLetter, selected: [String: DeadLetterPosition]) -> DeadLetterPosition? {
        for header in letter.record.originalHeaders where header.key == redrivenFromHeader {
            if let value = header.value, let text = String(data: value, encoding: .utf8), let position = selected[text], position != letter.position {
                return position
            }
        }
        return nil
    }

    /// What became of one dead letter.
    public enum Outcome: Sendable, Equatable {
        /// Published and acknowledged at this partition and offset of the source topic.
        case sent(partition: Int32, offset: Int64)
        /// Would be sent (a dry run).
        case wouldSend
        case refused(String)
        /// Not sent, on purpose and harmlessly (a copy of an original this run also redrives).
        case skipped(String)
        /// The broker did not take it.
        case failed(String)
    }

    /// Redrives `letters` in order with `producer` (running), or only says what it would do when
    /// `dryRun`; `report` gets each outcome as it happens. With a producer, a dry run too checks the
    /// source topics against the cluster's metadata.
    public func redrive(
        _ letters: [DeadLetter], producer: KafkaProducer?, dryRun: Bool, now: Date = Date(), report: (DeadLetter, Outcome) -> Void
    ) async -> [Outcome] {
        var outcomes: [Outcome] = []
        // A message for a topic the cluster lacks would wait out the producer's message timeout (or,
        // with automatic creation, make a topic under a mistyped prefix).
        var partitions: [String: Set<Int32>]?
        if let producer {
            let topics = Array(Set(letters.map(\.record.sourceTopic))).sorted()
            do {
                partitions = try await producer.partitions(of: topics, timeout: .seconds(10))
            } catch {
                return letters.map { letter in
                    let outcome = Outcome.failed("the cluster did not list its topics: \(error)")
                    report(letter, outcome)
                    return outcome
                }
            }
        }
        let selected = Dictionary(letters.map { (Self.reference($0), $0.position) }, uniquingKeysWith: { first, _ in first })
        for letter in letters {
            let outcome: Outcome
            if let first = Self.redrivenFrom(letter, selected: selected) {
                outcome = .skipped("a copy of the original of \(first), redriven before and dead-lettered again; this run redrives \(first) itself, so the original goes once")
            } else if let refusal = refusal(letter, now: now) {
                outcome = .refused(refusal)
            } else if let partitions, partitions[letter.record.sourceTopic] == nil {
                outcome = .refused("its source topic \(EventLine.printable(letter.record.sourceTopic)) does not exist on this cluster (another --prefix?)")
            } else if dryRun || producer == nil {
                outcome = .wouldSend
            } else {
                do {
                    let target = Self.partition(for: letter, partitions: partitions?[letter.record.sourceTopic])
                    let delivery = try await producer!.sendAndAwait(message(for: letter, partition: target))
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
        case .skipped(let reason):
            return "skipped  \(letter.position) (original \(original)): \(reason)"
        case .failed(let reason):
            return "FAILED   \(letter.position) (original \(original)): \(EventLine.printable(reason))"
        }
    }
}
