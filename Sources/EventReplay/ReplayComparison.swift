import ComplaintPipeline
import ComplaintStore
import EventTail
import Foundation
import Logging
import PostgresNIO
import RdKafka

/// Puts a replay's output events (left in its schema's outbox) beside the events the live stage
/// published for the same complaints, event by event: what matches, what differs and in which
/// fields, what only one side has.
///
/// Events are matched by topic, type and complaint (the Kafka key), in order; their `data` is
/// compared as JSON without the fields that record when the stage ran (`volatileFields`, e.g.
/// `classifiedAt`). The envelope's id and time differ by construction and are not compared, but a
/// recorded event whose id is already on its topic (a redrive, or an outbox relay that published a
/// row again after the broker's acknowledgement) is one output, not two: it is the same event, which
/// every consumer's inbox applies once, and the replay, reading the complaint's input once, produces
/// it once; so only its first copy is compared.
public struct ReplayComparison: Sendable {
    /// `data` fields that hold the processing time, not the outcome.
    public var volatileFields: Set<String>
    /// The stage's output topics.
    public var outputTopics: [String]
    /// Recorded outputs that are not the stage's own work, so that no replay reproduces them (the
    /// classifier's staff corrections, which its HTTP route publishes): left out of the pairing and
    /// listed apart.
    public var setsAside: @Sendable (Output) -> Bool = { _ in false }

    public init(outputTopics: [String], volatileFields: Set<String>) {
        self.outputTopics = outputTopics
        self.volatileFields = volatileFields
    }

    /// One output event reduced to what is compared.
    public struct Output: Sendable, Hashable {
        public var topic: String
        public var key: String
        public var type: String
        /// Canonical JSON (sorted keys) of `data` without the volatile fields.
        public var data: String
    }

    /// How the replay's outputs compare with the recorded ones.
    public struct Report: Sendable {
        public var replayed: Int
        public var recorded: Int
        public var matching: Int
        /// Pairs that differ, with the `data` fields that do.
        public var differing: [(replayed: Output, recorded: Output, fields: [String])]
        /// Outputs the replay produced that the live stage never published.
        public var onlyReplayed: [Output]
        /// Outputs the live stage published for the replayed complaints that the replay did not produce.
        public var onlyRecorded: [Output]
        /// Recorded outputs left out of the comparison (``ReplayComparison/setsAside``).
        public var setAside: [Output] = []
        /// Recorded copies of a compared event (the same envelope id on the same topic), not compared
        /// again; copies of a set-aside event are not counted.
        public var recordedCopies = 0
        /// Outputs the replay produced for complaints the live stage's group had not committed yet when
        /// compared (``compare(_:liveGroup:wait:brokers:client:logger:)``): not done live yet, not a difference.
        public var notReachedLive: [Output] = []
        /// Whether the live stage's group had committed past the range's end (`nil`: not asked, or no answer).
        public var liveGroupReached: Bool?
        /// The range's partitions (`topic/partition`) where the live stage's group has committed nothing:
        /// no offsets to tell what it has reached (a group renamed, stopped longer than the broker keeps
        /// an empty group's offsets, another topic prefix), so their outputs are compared as usual.
        public var liveGroupWithoutOffsets: [String] = []
        /// Why the live stage's group could not be asked (every question until the wait ran out failed):
        /// then nothing is listed as not reached and every output is compared.
        public var liveGroupUnanswered: String?

        public var matches: Bool { differing.isEmpty && onlyReplayed.isEmpty && onlyRecorded.isEmpty }
    }

    /// Compares, as ``compare(_:inputKeys:brokers:client:logger:)``, the outputs of the complaints of
    /// `outcome`'s range, once the live stage's consumer group `liveGroup` has committed past the
    /// range's end, waiting up to `wait` for it: the live stage has published nothing yet for what it
    /// has not read. Outputs of complaints at or past an offset the group committed then are listed
    /// apart (``Report/notReachedLive``), not as "only in the replay". Where the group has committed
    /// nothing (``Report/liveGroupWithoutOffsets``), or when it never answered
    /// (``Report/liveGroupUnanswered``), nothing tells what it reached: those outputs are compared.
    public func compare(
        _ outcome: ReplayOutcome, liveGroup: String, wait: Duration, brokers: [String], client: PostgresClient, logger: Logger
    ) async throws -> Report {
        let stop = outcome.range.stop
        var live: KafkaGroupProgress?
        var unanswered: String?
        do {
            let admin = try KafkaAdminClient(bootstrapServers: brokers, logger: logger)
            live = try await admin.waitForGroup(liveGroup, reaching: stop, timeout: wait)
        } catch {
            try Task.checkCancellation()
            logger.warning("the live group's offsets could not be asked; every output is compared", metadata: ["group": "\(liveGroup)", "error": "\(error)"])
            unanswered = "\(error)"
        }
        let reached = live?.reached(stop)
        let keys = try await outcome.range.keys(brokers: brokers, notCommittedBy: reached == false ? live : nil, logger: logger)
        var report = try await compare(outcome, inputKeys: keys.compared, brokers: brokers, client: client, logger: logger)
        report.liveGroupReached = reached
        report.liveGroupUnanswered = unanswered
        report.liveGroupWithoutOffsets = keys.partitionsWithoutCommit
        report.notReachedLive = report.onlyReplayed.filter { keys.notCommitted.contains($0.key) }
        report.onlyReplayed.removeAll { keys.notCommitted.contains($0.key) }
        return report
    }

    /// Compares the outputs in `outcome`'s schema with those recorded on the output topics for the
    /// complaints whose input messages the replay read.
    /// - Parameter inputKeys: The Kafka keys (complaint ids) of the replayed input messages.
    public func compare(
        _ outcome: ReplayOutcome, inputKeys: Set<String>, brokers: [String], client: PostgresClient, logger: Logger
    ) async throws -> Report {
        // Outputs of the look-back's messages are not compared.
        let replayed = try await replayedOutputs(in: outcome.schema, client: client, logger: logger).filter { inputKeys.contains($0.key) }
        var reader = HistoryReader(brokers: brokers, topics: outputTopics)
        reader.idleTimeout = .seconds(10)
        var recorded = RecordedOutputs()
        var undecodable = 0
        _ = try await reader.read(logger: logger) { message in
            guard let key = message.key.map({ String(buffer: $0) }), inputKeys.contains(key) else { return }
            if let (id, output) = event(topic: message.topic, key: key, value: Array(message.value.readableBytesView)) {
                recorded.append(output, id: id)
            } else {
                undecodable += 1
            }
        }
        if undecodable > 0 { logger.warning("recorded outputs that are not JSON events were skipped", metadata: ["count": "\(undecodable)"]) }
        return pair(replayed: replayed, recorded: recorded)
    }

    /// The recorded outputs in the order read, each event once: a copy of one already read (the same
    /// envelope id on the same topic) is the same event, set apart, not kept.
    struct RecordedOutputs {
        private(set) var outputs: [Output] = []
        /// The copies set apart, in the order read.
        private(set) var copies: [Output] = []
        private var seen: Set<[String]> = []

        /// Keeps `output` unless an event with envelope id `id` was already read on its topic; an event
        /// without an id is always kept.
        mutating func append(_ output: Output, id: String?) {
            if let id, !seen.insert([output.topic, id]).inserted {
                copies.append(output)
                return
            }
            outputs.append(output)
        }
    }

    /// Pairs the replayed outputs with the recorded ones read once each; the copies counted are those
    /// of compared events (a set-aside event's copies are set aside with it, never compared).
    func pair(replayed: [Output], recorded: RecordedOutputs) -> Report {
        var report = pair(replayed: replayed, recorded: recorded.outputs)
        report.recordedCopies = recorded.copies.filter { !setsAside($0) }.count
        return report
    }

    /// The replay's outputs, in the order the stage wrote them.
    func replayedOutputs(in schema: SchemaName, client: PostgresClient, logger: Logger) async throws -> [Output] {
        // The Kafka key the relay would have published with (the ordering key when there is none).
        let rows = try await client.query(
            PostgresQuery(unsafeSQL: "SELECT topic, aggregate_key, key, value FROM \(schema).outbox ORDER BY id"), logger: logger)
        var outputs: [Output] = []
        for try await (topic, aggregateKey, key, value) in rows.decode((String, String, ByteBuffer?, ByteBuffer).self) {
            let kafkaKey = key.map { String(buffer: $0) } ?? aggregateKey
            guard let output = output(topic: topic, key: kafkaKey, value: Array(value.readableBytesView)) else { continue }
            outputs.append(output)
        }
        return outputs
    }

    /// An event's comparable part; `nil` when the value is not a JSON event.
    func output(topic: String, key: String, value: [UInt8]) -> Output? {
        event(topic: topic, key: key, value: value)?.output
    }

    /// An event's envelope id (`nil` when it has none) and comparable part; `nil` when the value is not a JSON event.
    func event(topic: String, key: String, value: [UInt8]) -> (id: String?, output: Output)? {
        guard let envelope = try? JSONSerialization.jsonObject(with: Data(value)) as? [String: Any],
              let type = envelope["type"] as? String
        else { return nil }
        var data = envelope["data"] as? [String: Any] ?? [:]
        for field in volatileFields { data[field] = nil }
        guard let canonical = try? JSONSerialization.data(withJSONObject: data, options: [.sortedKeys]) else { return nil }
        return (envelope["id"] as? String, Output(topic: topic, key: key, type: type, data: String(decoding: canonical, as: UTF8.self)))
    }

    /// Pairs outputs by topic, type and key, in order, after setting aside the recorded outputs
    /// ``setsAside`` names.
    func pair(replayed: [Output], recorded: [Output]) -> Report {
        let aside = recorded.filter(setsAside)
        var report = Self.pair(replayed: replayed, recorded: recorded.filter { !setsAside($0) })
        report.setAside = aside
        return report
    }

    /// Pairs outputs by topic, type and key, in order.
    static func pair(replayed: [Output], recorded: [Output]) -> Report {
        struct Slot: Hashable { var topic, type, key: String }
        var waiting = Dictionary(grouping: recorded) { Slot(topic: $0.topic, type: $0.type, key: $0.key) }
        var report = Report(replayed: replayed.count, recorded: recorded.count, matching: 0, differing: [], onlyReplayed: [], onlyRecorded: [])
        for output in replayed {
            let slot = Slot(topic: output.topic, type: output.type, key: output.key)
            guard var candidates = waiting[slot], !candidates.isEmpty else {
                report.onlyReplayed.append(output)
                continue
            }
            let counterpart = candidates.removeFirst()
            waiting[slot] = candidates
            if counterpart.data == output.data {
                report.matching += 1
            } else {
                report.differing.append((output, counterpart, differingFields(output.data, counterpart.data)))
            }
        }
        report.onlyRecorded = waiting.values.flatMap { $0 }.sorted { ($0.key, $0.type) < ($1.key, $1.type) }
        return report
    }

    /// The top-level `data` fields whose JSON differs.
    static func differingFields(_ lhs: String, _ rhs: String) -> [String] {
        func fields(_ json: String) -> [String: String] {
            let object = (try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]) ?? [:]
            return object.mapValues { value in
                (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed]))
                    .map { String(decoding: $0, as: UTF8.self) } ?? "\(value)"
            }
        }
        let left = fields(lhs), right = fields(rhs)
        return Set(left.keys).union(right.keys).sorted().filter { left[$0] != right[$0] }
    }
}

extension ReplayRange {
    /// The Kafka keys (complaint ids) of the messages whose outcome the range compares.
    public func keys(brokers: [String], logger: Logger) async throws -> Set<String> {
        try await keys(brokers: brokers, notCommittedBy: nil, logger: logger).compared
    }

    /// The Kafka keys of a range's compared messages, sorted by what a consumer group has committed.
    public struct Keys: Sendable {
        /// The keys (complaint ids) of the messages whose outcome the range compares.
        public var compared: Set<String> = []
        /// Those of the messages at or past the offset the group committed on their partition.
        public var notCommitted: Set<String> = []
        /// The partitions (`topic/partition`, sorted) with a compared message where the group has
        /// committed nothing: nothing tells what it has reached there, so their keys are not in `notCommitted`.
        public var partitionsWithoutCommit: [String] = []
    }

    /// The Kafka keys (complaint ids) of the messages whose outcome the range compares, and those of
    /// the messages among them at or past the offset a consumer group committed (`progress`; none
    /// without it). A partition where the group committed nothing puts none of its keys there: an
    /// absent commit (a group that never ran, or whose offsets the broker deleted) says nothing of what
    /// the live stage published.
    public func keys(brokers: [String], notCommittedBy progress: KafkaGroupProgress?, logger: Logger) async throws -> Keys {
        var committed: [String: [Int32: Int64?]] = [:]
        for entry in progress?.partitions ?? [] { committed[entry.topic, default: [:]][entry.partition] = .some(entry.committed) }
        var reader = HistoryReader(brokers: brokers, topics: Array(stop.keys).sorted())
        reader.start = start
        reader.stop = stop
        reader.idleTimeout = .seconds(10)
        var keys = Keys()
        var withoutCommit: Set<String> = []
        _ = try await reader.read(logger: logger) { message in
            guard message.timestampMilliseconds.map(compared.contains) ?? true, let key = message.key.map({ String(buffer: $0) }) else { return }
            keys.compared.insert(key)
            guard progress != nil else { return }
            // A partition the answer left out counts as one without a commit.
            if let offset = committed[message.topic]?[message.partition.rawValue] ?? nil {
                if message.offset.rawValue >= offset { keys.notCommitted.insert(key) }
            } else {
                withoutCommit.insert("\(message.topic)/\(message.partition.rawValue)")
            }
        }
        keys.partitionsWithoutCommit = withoutCommit.sorted()
        return keys
    }
}
