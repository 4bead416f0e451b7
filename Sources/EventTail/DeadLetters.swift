import ComplaintEvents
import Foundation
import Logging
import NIOCore
import RdKafka

/// Where a dead letter sits on the dead-letter topic, written `partition:offset` (`2:17`): how
/// `redress deadletter show` and `redrive` name one.
public struct DeadLetterPosition: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var partition: Int32
    public var offset: Int64

    public init(partition: Int32, offset: Int64) {
        self.partition = partition
        self.offset = offset
    }

    /// `partition:offset`, both whole numbers ≥ 0; `nil` for anything else.
    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let partition = Int32(parts[0]), let offset = Int64(parts[1]), partition >= 0, offset >= 0 else { return nil }
        self.init(partition: partition, offset: offset)
    }

    public var description: String { "\(partition):\(offset)" }

    public static func < (lhs: Self, rhs: Self) -> Bool { (lhs.partition, lhs.offset) < (rhs.partition, rhs.offset) }
}

/// One dead letter as read from the dead-letter topic: where it sits and the record it carries.
public struct DeadLetter: Sendable {
    /// The dead-letter topic it was read from (under the environment's prefix).
    public var topic: String
    public var position: DeadLetterPosition
    public var record: DeadLetterRecord
    /// The envelope's hotel (``DeadLetterRecord/unknownHotelID`` when the original named none).
    public var hotelID: String

    public init(topic: String, position: DeadLetterPosition, record: DeadLetterRecord, hotelID: String) {
        self.topic = topic
        self.position = position
        self.record = record
        self.hotelID = hotelID
    }

    /// When the other consumer groups of the source topic applied the original at the earliest: its
    /// event's `time` when the value is an event, or when it failed if that is earlier. What
    /// ``DeadLetterRedrive`` compares with the inboxes' window.
    public var originalTime: Date {
        guard let value = record.originalValue, !record.isValueTruncated,
              let object = (try? JSONSerialization.jsonObject(with: value)) as? [String: Any],
              let time = (object["time"] as? String).flatMap(EventTimestamp.date(from:))
        else { return record.failedAt }
        return min(time, record.failedAt)
    }

    /// `redress deadletter list`'s line: where it sits, when, who gave up, where the original was read,
    /// attempts, and the reason (cut to `reasonLength`); every part safe on a terminal.
    public func summary(reasonLength: Int = 240) -> String {
        let record = record
        var line = "\(position)  \(EventTimestamp.string(from: record.failedAt))  \(EventLine.printable(record.service))  "
            + "\(EventLine.printable(record.sourceTopic))@\(record.partition)/\(record.offset)  attempts=\(record.attempts)  "
            + "hotel=\(EventLine.printable(hotelID))  reason=\(EventLine.printable(EventLine.clip(record.reason, reasonLength)).debugDescription)"
        if record.isValueTruncated { line += "  value truncated (\(record.originalValue?.count ?? 0) of \(record.originalValueSize) bytes kept)" }
        return line
    }

    /// `redress deadletter show`'s text: every field of the record, the key and headers as text (or
    /// base64), and the original value in full — JSON as one line of the same JSON (terminal-safe
    /// escapes), other UTF-8 text as it is, anything else base64 — so that an operator can see what to fix.
    public func details() -> String {
        let record = record
        var lines = [
            "dead letter   \(EventLine.printable(topic)) \(position)",
            "failed at     \(EventTimestamp.string(from: record.failedAt))",
            "service       \(EventLine.printable(record.service))",
            "source        \(EventLine.printable(record.sourceTopic)) partition \(record.partition) offset \(record.offset)",
            "attempts      \(record.attempts)",
            "hotel         \(EventLine.printable(hotelID))",
            "reason        \(EventLine.printable(record.reason))",
            "key           \(record.originalKey.map { Self.text(of: $0) } ?? "(none)")",
        ]
        if record.originalHeaders.isEmpty { lines.append("headers       (none)") }
        for header in record.originalHeaders {
            lines.append("header        \(EventLine.printable(header.key)): \(header.value.map { Self.text(of: $0) } ?? "(no value)")")
        }
        guard let value = record.originalValue else {
            lines.append("value         (none: a tombstone)")
            return lines.joined(separator: "\n")
        }
        if record.isValueTruncated {
            lines.append("value         TRUNCATED: \(value.count) of \(record.originalValueSize) bytes kept; it cannot be redriven")
        } else {
            lines.append("value         \(value.count) bytes")
        }
        lines.append(Self.valueText(value, complete: !record.isValueTruncated))
        return lines.joined(separator: "\n")
    }

    /// Short bytes (a key, a header) as text when printable UTF-8, else `base64:…`.
    static func text(of bytes: Data) -> String {
        if let text = String(validating: bytes, as: UTF8.self), EventLine.printable(text) == text { return text }
        return "base64:" + bytes.base64EncodedString()
    }

    /// The original value for an operator: JSON on one terminal-safe line, plain text (newlines and tabs
    /// allowed) as it is, anything else base64.
    static func valueText(_ value: Data, complete: Bool) -> String {
        if let text = String(validating: value, as: UTF8.self) {
            if complete, (try? JSONSerialization.jsonObject(with: value, options: [.fragmentsAllowed])) != nil {
                return EventLine.terminalSafeJSON(text)
            }
            let unsafe = text.unicodeScalars.contains { $0 != "\n" && $0 != "\t" && EventLine.printable(String($0)) != String($0) }
            if !unsafe { return text }
        }
        return "base64:" + value.base64EncodedString()
    }
}

/// Which dead letters `redress deadletter list` and `redrive` select: by when they failed, the service
/// that gave up, the topic the original came from, the reason, or explicit positions.
public struct DeadLetterFilter: Sendable {
    /// First `failedAt` selected.
    public var since: Date?
    /// First `failedAt` not selected.
    public var until: Date?
    /// Service names (`classifier` or `redress-classifier`); empty: every service.
    public var services: Set<String> = []
    /// Full source topic names; empty: every topic.
    public var sourceTopics: Set<String> = []
    /// Text the reason contains, ignoring case.
    public var reasonContains: String?
    /// Explicit positions; empty: every position.
    public var positions: Set<DeadLetterPosition> = []

    public init(
        since: Date? = nil, until: Date? = nil, services: Set<String> = [], sourceTopics: Set<String> = [], reasonContains: String? = nil,
        positions: Set<DeadLetterPosition> = []
    ) {
        self.since = since
        self.until = until
        self.services = Set(services.map(Self.serviceName))
        self.sourceTopics = sourceTopics
        self.reasonContains = reasonContains
        self.positions = positions
    }

    /// A service's name as its dead letters carry it: `redress-classifier` is `classifier`.
    static func serviceName(_ name: String) -> String {
        let lowered = name.lowercased()
        return lowered.hasPrefix("redress-") ? String(lowered.dropFirst("redress-".count)) : lowered
    }

    /// Refuses an empty value given as a filter: `--reason-contains ""` (or an empty service or topic)
    /// would select every dead letter, as if none were given, without `--all`.
    public func validate() throws(DeadLetterSettingError) {
        if reasonContains?.isEmpty == true { throw DeadLetterSettingError("--reason-contains must not be empty (it would select every dead letter; use --all for that)") }
        if services.contains("") { throw DeadLetterSettingError("--service must not be empty") }
        if sourceTopics.contains("") { throw DeadLetterSettingError("--source-topic must not be empty") }
    }

    public func admits(_ letter: DeadLetter) -> Bool {
        let record = letter.record
        if !positions.isEmpty && !positions.contains(letter.position) { return false }
        if let since, record.failedAt < since { return false }
        if let until, record.failedAt >= until { return false }
        if !services.isEmpty && !services.contains(Self.serviceName(record.service)) { return false }
        if !sourceTopics.isEmpty && !sourceTopics.contains(record.sourceTopic) { return false }
        if let reasonContains, !reasonContains.isEmpty, record.reason.range(of: reasonContains, options: .caseInsensitive) == nil { return false }
        return true
    }
}

/// Reads the dead-letter topic with a ``HistoryReader`` (from the first kept offset, or from `since`
/// where the broker can look offsets up by time, to the ends when the read began) and keeps the dead
/// letters a ``DeadLetterFilter`` admits, in the order they failed.
public struct DeadLetterReader: Sendable {
    /// The dead-letter topic, under the environment's prefix.
    public let topic: String
    public var history: HistoryReader

    public init(brokers: [String], topic: String) {
        self.topic = topic
        history = HistoryReader(brokers: brokers, topics: [topic])
    }

    /// What a read found: the dead letters selected, and the positions of messages that are no dead
    /// letter (they do not decode as one).
    public struct Result: Sendable {
        public var letters: [DeadLetter] = []
        public var unreadable: [DeadLetterPosition] = []
    }

    public func read(_ filter: DeadLetterFilter, logger: Logger) async throws -> Result {
        var reader = history
        let admin = try KafkaAdminClient(bootstrapServers: history.configuration.bootstrapServers, logger: logger)
        if !filter.positions.isEmpty {
            // Only the partitions named, from the first position to the last.
            let progress = try await admin.progress(of: history.configuration.groupID, on: [topic])
            var start: [Int32: Int64] = [:], stop: [Int32: Int64] = [:]
            for entry in progress.partitions { stop[entry.partition] = 0 }
            // A partition the topic does not have holds nothing (and a start committed there fails).
            for position in filter.positions where stop[position.partition] != nil {
                start[position.partition] = min(start[position.partition] ?? .max, position.offset)
                stop[position.partition] = max(stop[position.partition] ?? 0, position.offset + 1)
            }
            reader.start = [topic: start]
            reader.stop = [topic: stop]
        } else if let since = filter.since {
            // A dead letter is published after it failed: none failed since `since` lies before the
            // first message stamped at or after it. Brokers that cannot look up by time read it all.
            let offsets = try await admin.offsets(atMillisecondsSince1970: Int64((since.timeIntervalSince1970 * 1000).rounded(.down)), on: [topic])
            if let partitions = offsets[topic], !partitions.isEmpty { reader.start = [topic: partitions] }
        }
        var result = Result()
        _ = try await reader.read(logger: logger) { message in
            let position = DeadLetterPosition(partition: message.partition.rawValue, offset: message.offset.rawValue)
            guard let event = try? Topics.deadLetter.decode(Array(message.value.readableBytesView)) else {
                if filter.positions.isEmpty || filter.positions.contains(position) { result.unreadable.append(position) }
                return
            }
            let letter = DeadLetter(topic: message.topic, position: position, record: event.data, hotelID: event.hotelID)
            if filter.admits(letter) { result.letters.append(letter) }
        }
        result.letters.sort { ($0.record.failedAt, $0.position) < ($1.record.failedAt, $1.position) }
        result.unreadable.sort()
        return result
    }
}
