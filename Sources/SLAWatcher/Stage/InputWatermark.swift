import ComplaintPipeline
import Foundation
import Logging
import Metrics
import PostgresNIO
import RdKafka
import ServiceLifecycle

/// Keeps `input_watermarks` (migration 0006): per partition of the watcher's input topics, a time up to
/// which everything the partition held is applied. The timer sweep fires a timer only once every
/// partition is caught up past its due time (plus a grace), so a breach is never fired ahead of a staff
/// action that was already on the topic (a broker outage, a restart, one lane behind another).
///
/// Every ``Configuration/interval`` it notes the time (the clockwork's clock), asks the brokers where
/// each partition this replica owns ends, and keeps that end as a target; a partition whose applied
/// offset (stored by the pipeline, or committed by the group) has reached the target of a check is
/// caught up to that check's time. Only facts are written, and only forward (`greatest`): a partition
/// given to another replica keeps its last value until its new owner has caught it up; one nobody
/// checked yet is NULL (the sweep holds). When the brokers do not answer, nothing moves, so the sweep
/// holds at the time of the last good check. A partition that advanced `NOTIFY`s the sweeps. Rows of a
/// partition the metadata no longer lists (a topic recreated with fewer) are deleted. After every check,
/// answered or not, `sla_input_watermark_age_seconds{topic,partition}` says how old each partition's value is.
public struct InputWatermark: Service {
    /// How often and how long it asks the brokers, and the grace the sweep gives an action.
    public struct Configuration: Sendable {
        /// Between two checks of the partitions' ends.
        public var interval: Duration = .seconds(2)
        /// Bounds each broker round trip of a check.
        public var queryTimeout: Duration = .seconds(2)
        /// A timer due at D fires once the input is caught up to D + grace: an action taken just before a
        /// deadline has that long to reach the topic (intake's outbox relay, the network).
        public var grace: Duration = .seconds(5)
        public init() {}
    }

    let consumer: KafkaConsumer
    let store: StageStore
    let clock: @Sendable () -> Date
    let configuration: Configuration
    let logger: Logger

    public init(
        consumer: KafkaConsumer, store: StageStore, clock: @escaping @Sendable () -> Date, configuration: Configuration = Configuration(),
        logger: Logger
    ) {
        self.consumer = consumer
        self.store = store
        self.clock = clock
        self.configuration = configuration
        self.logger = logger
    }

    /// A partition, as `input_watermarks` names it.
    struct PartitionKey: Hashable {
        var topic: String
        var partition: Int32
    }

    /// The checks of the partitions this replica owns that their applied offsets have not reached yet.
    struct Checks {
        /// Per owned partition, in time order: when a check started and the end it found.
        /// At most this many checks are kept per partition (17 minutes of them at the default interval).
        static let keptChecks = 512
        var pending: [PartitionKey: [(at: Date, end: Int64)]] = [:]

        /// Takes one check's `progress`, started at `startedAt`: returns the partitions caught up by it and
        /// to when (the latest check whose end the applied offset has reached).
        mutating func record(_ progress: KafkaInputProgress, startedAt: Date) -> [PartitionKey: Date] {
            var caughtUp: [PartitionKey: Date] = [:]
            var owned: [PartitionKey: [(at: Date, end: Int64)]] = [:]
            for entry in progress.partitions {
                let key = PartitionKey(topic: entry.topic, partition: entry.partition)
                var checks = pending[key] ?? []
                checks.append((startedAt, entry.end))
                if let reached = checks.lastIndex(where: { $0.end <= entry.processed }) {
                    caughtUp[key] = checks[reached].at
                    checks.removeFirst(reached + 1)
                }
                // A partition that stays behind (a lane retrying for hours) keeps the newest checks only: its
                // first caught-up time is then a later one, never an earlier one than true.
                if checks.count > Self.keptChecks { checks.removeFirst(checks.count - Self.keptChecks) }
                owned[key] = checks
            }
            // A partition no longer owned: its next owner checks it.
            pending = owned
            return caughtUp
        }
    }

    /// How loudly a failed check is logged: one failure (a rebalance, a coordinator moving) is routine, so
    /// the first is `info` and the next ones `debug`; once checks have failed for longer than `warnAfter`, a
    /// `warning`, then one every `warnEvery` while they keep failing.
    struct FailureLog {
        var warnAfter: Duration = .seconds(30)
        var warnEvery: Duration = .seconds(60)
        private(set) var failures = 0
        private var since: ContinuousClock.Instant?
        private var warnedAt: ContinuousClock.Instant?

        /// A check failed at `now`: the level to log it at.
        mutating func failed(at now: ContinuousClock.Instant) -> Logger.Level {
            failures += 1
            let since = self.since ?? now
            self.since = since
            guard now - since > warnAfter else { return failures == 1 ? .info : .debug }
            if let warnedAt, now - warnedAt < warnEvery { return .debug }
            warnedAt = now
            return .warning
        }

        /// A check answered: returns whether it had been failing.
        mutating func answered() -> Bool {
            defer { (failures, since, warnedAt) = (0, nil, nil) }
            return failures > 0
        }
    }

    public func run() async throws {
        var checks = Checks()
        var failureLog = FailureLog()
        var ages: [PartitionKey: Gauge] = [:]
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let startedAt = clock()
            do {
                let progress = try await consumer.inputProgress(timeout: configuration.queryTimeout)
                let caughtUp = checks.record(progress, startedAt: startedAt)
                try await write(caughtUp, partitions: progress.topicPartitions)
                if failureLog.answered() { logger.info("input watermark checked again: timers fire as the input is caught up") }
            } catch {
                // The sweep holds meanwhile (sla_sweep_held_seconds); a warning only once checks keep failing.
                let level = failureLog.failed(at: .now)
                logger.log(level: level, "input watermark not checked: timers due after the last good check are held", metadata: [
                    LoggingKeys.error: "\(String(reflecting: error))", LoggingKeys.attempt: "\(failureLog.failures)",
                ])
            }
            do {
                try await recordAges(&ages)
            } catch {
                logger.debug("input watermark ages not read", metadata: [LoggingKeys.error: "\(String(reflecting: error))"])
            }
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: configuration.interval) }
            } catch {
                break
            }
        }
        logger.info("input watermark stopped")
    }

    /// Per partition of the input topics, how old its `caught_up_to` is by the clock (one never caught up:
    /// since its row was made), as `sla_input_watermark_age_seconds{topic,partition}`: the partition
    /// holding the sweep is the oldest. A partition whose row is gone loses its gauge.
    func recordAges(_ gauges: inout [PartitionKey: Gauge]) async throws {
        let topics = consumer.topics
        let rows = try await store.read { connection, logger in
            try await Self.watermarks(topics: topics, on: connection, logger: logger)
        }
        let now = clock()
        var seen: Set<PartitionKey> = []
        for row in rows {
            let key = PartitionKey(topic: row.topic, partition: row.partition)
            seen.insert(key)
            let gauge = gauges[key] ?? Gauge(label: "sla_input_watermark_age_seconds", dimensions: [("topic", key.topic), ("partition", "\(key.partition)")])
            gauges[key] = gauge
            gauge.record(row.age(at: now))
        }
        for (key, gauge) in gauges where !seen.contains(key) {
            gauge.destroy()
            gauges[key] = nil
        }
    }

    /// One row of `input_watermarks`.
    struct Row: Sendable {
        var topic: String
        var partition: Int32
        var caughtUpTo: Date?
        /// When the row was made, or last moved.
        var since: Date
        var name: String { "\(topic)/\(partition)" }
        /// Seconds since `caughtUpTo` (never caught up: since the row was made).
        func age(at now: Date) -> Double { max(0, now.timeIntervalSince(caughtUpTo ?? since)) }
    }

    /// The rows of `topics`, oldest (never caught up) first; with `due`, only those holding a timer due then
    /// (not caught up past it plus `grace`).
    static func watermarks(
        topics: [String], holding due: Date? = nil, grace: Duration = .zero, on connection: PostgresConnection, logger: Logger
    ) async throws -> [Row] {
        let limit = due.map { $0.addingTimeInterval(grace / .seconds(1)) }
        let rows = try await connection.query("""
            SELECT topic, partition, caught_up_to, updated_at FROM input_watermarks
            WHERE topic = ANY(\(topics)) AND (\(limit)::timestamptz IS NULL OR caught_up_to IS NULL OR caught_up_to < \(limit)::timestamptz)
            ORDER BY caught_up_to NULLS FIRST, topic, partition
            """, logger: logger)
        var result: [Row] = []
        for try await (topic, partition, caughtUpTo, since) in rows.decode((String, Int, Date?, Date).self) {
            result.append(Row(topic: topic, partition: Int32(partition), caughtUpTo: caughtUpTo, since: since))
        }
        return result
    }

    /// Creates the rows of partitions not known yet (NULL), deletes those of partitions the metadata no
    /// longer lists for a topic it lists (a topic recreated with fewer partitions: their NULL or frozen
    /// value would hold the sweep for ever), and moves caught-up partitions forward; `NOTIFY`s the sweeps
    /// when one went, left NULL or moved by more than two intervals (returns whether it did).
    @discardableResult
    func write(_ caughtUp: [PartitionKey: Date], partitions: [String: [Int32]]) async throws -> Bool {
        let topics = partitions.flatMap { topic, ids in ids.map { _ in topic } }
        let ids = partitions.flatMap { _, ids in ids.map(Int.init) }
        // A topic the metadata did not list (absent for a moment, or deleted) keeps its rows.
        let listedTopics = partitions.filter { !$0.value.isEmpty }.map(\.key)
        let watermarkLogger = self.logger
        let jump = 2 * (configuration.interval / .seconds(1))
        let caught = Array(caughtUp)
        let caughtTopics = caught.map(\.key.topic)
        let caughtIDs = caught.map { Int($0.key.partition) }
        let caughtTimes = caught.map(\.value)
        return try await store.write { connection, logger in
            if !topics.isEmpty {
                try await connection.query("""
                    INSERT INTO input_watermarks (topic, partition)
                    SELECT * FROM unnest(\(topics)::text[], \(ids)::integer[])
                    ON CONFLICT DO NOTHING
                    """, logger: logger)
            }
            var changed = 0
            if !listedTopics.isEmpty {
                let gone = try await connection.query("""
                    DELETE FROM input_watermarks
                    WHERE topic = ANY(\(listedTopics)) AND (topic, partition) NOT IN (SELECT * FROM unnest(\(topics)::text[], \(ids)::integer[]))
                    RETURNING topic, partition
                    """, logger: logger)
                for try await (topic, partition) in gone.decode((String, Int).self) {
                    changed += 1
                    watermarkLogger.notice("input watermark: a partition the topic's metadata no longer lists is forgotten", metadata: [
                        "sla.partition": "\(topic)/\(partition)",
                    ])
                }
            }
            if !caughtTopics.isEmpty {
                // Every check moves an idle partition on by about an interval: only a row leaving NULL or one
                // jumping further (catching up after a lag, an outage) wakes the sweeps, which poll anyway.
                let moved = try await connection.query("""
                    WITH caught (topic, partition, caught_at) AS (
                        SELECT * FROM unnest(\(caughtTopics)::text[], \(caughtIDs)::integer[], \(caughtTimes)::timestamptz[])),
                    before AS (
                        SELECT w.topic, w.partition, w.caught_up_to FROM input_watermarks w
                        JOIN caught c ON c.topic = w.topic AND c.partition = w.partition),
                    moved AS (
                        INSERT INTO input_watermarks AS w (topic, partition, caught_up_to) SELECT topic, partition, caught_at FROM caught
                        ON CONFLICT (topic, partition) DO UPDATE SET caught_up_to = excluded.caught_up_to, updated_at = now()
                            WHERE w.caught_up_to IS NULL OR w.caught_up_to < excluded.caught_up_to
                        RETURNING w.topic, w.partition, w.caught_up_to)
                    SELECT count(*) FROM moved m LEFT JOIN before b ON b.topic = m.topic AND b.partition = m.partition
                    WHERE b.caught_up_to IS NULL OR m.caught_up_to - b.caught_up_to > make_interval(secs => \(jump))
                    """, logger: logger)
                for try await count in moved.decode(Int.self) { changed += count }
            }
            if changed > 0 {
                try await connection.query("SELECT pg_notify(\(ClockStore.notificationChannel), '')", logger: logger)
            }
            return (changed > 0, [])
        }
    }

    /// Whether timers due up to when may fire: the least `caught_up_to` of every partition of `topics`, less
    /// `grace`; `nil` when a partition was never caught up or none is known yet (nothing may fire).
    static func firingHorizon(topics: [String], grace: Duration, on connection: PostgresConnection, logger: Logger) async throws -> Date? {
        let rows = try await connection.query("""
            SELECT count(*), count(caught_up_to), min(caught_up_to) FROM input_watermarks WHERE topic = ANY(\(topics))
            """, logger: logger)
        for try await (all, known, least) in rows.decode((Int, Int, Date?).self) {
            guard all > 0, known == all, let least else { return nil }
            return least.addingTimeInterval(-Double(grace.components.seconds) - Double(grace.components.attoseconds) / 1e18)
        }
        return nil
    }
}
