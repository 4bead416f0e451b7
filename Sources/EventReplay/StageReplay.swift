import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import Foundation
import Logging
import NIOConcurrencyHelpers
import RdKafka
import ServiceLifecycle

/// Replays a time range of a stage's input topics through the stage's own handlers into a fresh
/// schema, under a fresh consumer group, publishing nothing: the event log as the system of record.
///
/// The group is given the offsets of `from` before it starts and the pipeline stops at the offsets of
/// `to`; output events stay in the fresh schema's outbox, dead letters and work-queue intents are
/// recorded, not sent (``StageRuntime/publishes``); the stage's background services (sweeps, gauges)
/// do not run. `redress replay` and `redress metrics rebuild` use it.
public struct StageReplay: Sendable {
    /// The stage as built for production, with ``replayService(of:stamp:)`` as its service (its
    /// fresh schema and consumer group).
    public var runtime: StageRuntime
    /// First message time replayed (`nil`: the first message still kept).
    public var from: Date?
    /// First message time not replayed (`nil`: the topics' ends when the replay starts).
    public var to: Date?
    /// How far before `from` the stage must read to hold the state the range's messages depend on
    /// (the classifier's guest history: a repeat complaint is one within 30 days). Those earlier
    /// messages are applied but not compared.
    public var lookBack: Duration
    public var logger: Logger

    public init(runtime: StageRuntime, from: Date? = nil, to: Date? = nil, lookBack: Duration = .zero, logger: Logger) {
        self.runtime = runtime
        self.from = from
        self.to = to
        self.lookBack = lookBack
        self.logger = logger
    }

    /// Where the stage starts applying: `from` less the look-back.
    var applyFrom: Date? {
        from.map { $0.addingTimeInterval(-Double(lookBack.components.seconds)) }
    }

    /// The service a replay of `service` runs as: schema `<schema>_replay_<stamp>`, consumer group
    /// `<executable>-replay-<stamp>`, the same migrations.
    public static func replayService(of service: RedressService, stamp: String) throws -> RedressService {
        RedressService(
            name: service.name, executable: "\(service.executable)-replay-\(stamp)",
            schema: try SchemaName("\(service.schema.rawValue)_replay_\(stamp)"), developmentPort: 0,
            migrationFolder: service.migrationFolder)
    }

    /// The input topics (the runtime's inputs).
    public var inputTopics: [String] { runtime.inputs.map(\.topic) }

    /// Where the replay starts and stops, per topic and partition: the offsets of `from` and `to` where
    /// the broker can look them up by time, else the first message kept and the end (the pipeline
    /// then passes over the messages outside the range by their timestamps).
    /// - Throws: A ``KafkaError`` when the cluster does not answer or a topic is unknown.
    public func range(admin: KafkaAdminClient) async throws -> ReplayRange {
        let kept = try await admin.progress(of: runtime.service.executable, on: inputTopics)
        var start = kept.partitions.reduce(into: [String: [Int32: Int64]]()) { $0[$1.topic, default: [:]][$1.partition] = $1.start }
        var stop = kept.ends
        if let from = applyFrom {
            let offsets = try await admin.offsets(atMillisecondsSince1970: Self.milliseconds(from), on: inputTopics)
            for (topic, partitions) in offsets {
                for (partition, offset) in partitions {
                    let kept = start[topic]?[partition] ?? 0
                    start[topic]?[partition] = max(offset, kept)
                }
            }
        }
        if let to {
            let offsets = try await admin.offsets(atMillisecondsSince1970: Self.milliseconds(to), on: inputTopics)
            for (topic, partitions) in offsets {
                for (partition, offset) in partitions {
                    let end = stop[topic]?[partition] ?? offset
                    stop[topic]?[partition] = min(offset, end)
                }
            }
        }
        // An empty range where `to` comes before `from`.
        for (topic, partitions) in stop {
            for (partition, offset) in partitions {
                let first = start[topic]?[partition] ?? 0
                if offset < first { stop[topic]?[partition] = first }
            }
        }
        let end = to.map(Self.milliseconds) ?? .max
        return ReplayRange(
            start: start, stop: stop, timestamps: (applyFrom.map(Self.milliseconds) ?? .min)..<end,
            compared: (from.map(Self.milliseconds) ?? .min)..<end)
    }

    static func milliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded(.down)) }

    /// Runs the stage over the range and returns what became of its messages once the group has
    /// committed up to the range's end. The fresh schema stays (the caller compares and drops it).
    /// - Parameter progress: Hears, about once a second, how many messages are still to go.
    /// - Throws: A ``ReplayTimedOut`` when the group is not there within `timeout`.
    public func run(timeout: Duration = .seconds(600), progress: @escaping @Sendable (Int64) -> Void = { _ in }) async throws -> ReplayOutcome {
        let admin = try KafkaAdminClient(
            bootstrapServers: runtime.settings.kafkaBrokers,
            additionalProperties: runtime.kafkaProperties.filter { !["fetch.wait.max.ms", "max.partition.fetch.bytes"].contains($0.key) },
            logger: logger)
        let range = try await range(admin: admin)
        let group = runtime.service.executable
        try await admin.commit(range.start, for: group)

        let outcomes = NIOLockedValueBox([MessageOutcome: Int]())
        var runtime = self.runtime
        runtime.publishes = false
        runtime.stopOffsets = range.stop
        runtime.timestamps = range.timestamps
        runtime.backgroundServices = []
        runtime.settings.httpHost = "127.0.0.1"
        runtime.settings.httpPort = 0
        // Its inputs are named already (a replay's own --topic-prefix); a KAFKA_TOPIC_PREFIX from the
        // environment would rename them past its stop offsets, and it would never end.
        runtime.settings.topicPrefix = ""
        runtime.pipelineHooks.settled = { _, outcome in outcomes.withLockedValue { $0[outcome, default: 0] += 1 } }
        let services = try runtime.makeServiceGroup()
        let topics = inputTopics
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Bool.self) { tasks in
            tasks.addTask {
                try await services.run()
                return false
            }
            tasks.addTask {
                let deadline = ContinuousClock.now + timeout
                var lastReport = ContinuousClock.now
                while ContinuousClock.now < deadline {
                    if let current = try? await admin.progress(of: group, on: topics) {
                        if current.reached(range.stop) { return true }
                        if ContinuousClock.now - lastReport >= .seconds(1) {
                            progress(range.remaining(after: current))
                            lastReport = .now
                        }
                    }
                    try await Task.sleep(for: .milliseconds(200))
                }
                throw ReplayTimedOut(description: "the replay had not reached the range's end within \(timeout)")
            }
            defer { tasks.cancelAll() }
            // The first to finish decides: the range's end reached, or the stage stopped (Ctrl-C, a failure).
            if try await tasks.next() == true {
                await services.triggerGracefulShutdown()
                while try await tasks.next() != nil {}
                return
            }
            throw ReplayTimedOut(description: "the replayed stage stopped before it reached the range's end")
        }
        return ReplayOutcome(
            schema: runtime.service.schema, consumerGroup: group, range: range, outcomes: outcomes.withLockedValue { $0 },
            duration: ContinuousClock.now - started)
    }
}

/// Where a replay starts and stops: per topic and partition, the first offset read and the first
/// offset not read; and the message timestamps applied among those read.
public struct ReplayRange: Sendable, Hashable {
    public var start: [String: [Int32: Int64]]
    public var stop: [String: [Int32: Int64]]
    /// Milliseconds since 1970 of the messages applied: from `from` less the look-back up to `to`.
    public var timestamps: Range<Int64>
    /// Milliseconds since 1970 of the messages whose outcome is compared: `from` up to `to`.
    public var compared: Range<Int64>

    /// Messages read (those outside ``timestamps`` are passed over).
    public var messages: Int64 {
        stop.reduce(0) { sum, topic in
            sum + topic.value.reduce(0) { $0 + max(0, $1.value - (start[topic.key]?[$1.key] ?? $1.value)) }
        }
    }

    /// Messages of the range the group has not committed yet.
    func remaining(after progress: KafkaGroupProgress) -> Int64 {
        progress.partitions.reduce(0) { sum, entry in
            let stop = self.stop[entry.topic]?[entry.partition] ?? 0
            return sum + max(0, stop - (entry.committed ?? start[entry.topic]?[entry.partition] ?? entry.start))
        }
    }
}

/// What a replay did: where it ran, over which range, and what became of each message.
public struct ReplayOutcome: Sendable {
    /// The fresh schema holding the replayed state and outbox.
    public var schema: SchemaName
    public var consumerGroup: String
    public var range: ReplayRange
    /// Messages per outcome (applied, duplicate, dead-lettered).
    public var outcomes: [MessageOutcome: Int]
    public var duration: Duration
}

/// The replay did not reach the range's end in time.
public struct ReplayTimedOut: Error, CustomStringConvertible {
    public var description: String
}
