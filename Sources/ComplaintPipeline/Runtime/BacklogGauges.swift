import ComplaintStore
import Foundation
import Logging
import Metrics
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Samples how far a service's outbox and work queue are behind into gauges on `/metrics`, so that an
/// SRE can alert on progress and not only on liveness: a relay failing every round or a worker whose
/// calls all fail leaves the process healthy while the age of its oldest row grows.
///
/// - `outbox_unsent_messages{schema}` and `outbox_oldest_unsent_age_seconds{schema}` (0 when empty);
/// - `work_queue_pending_items{schema}` and `work_queue_oldest_overdue_age_seconds{schema}`: how long
///   the longest-waiting intent that is due has waited (0 when none is due), of the kinds its workers handle;
/// - `work_queue_unhandled_items{schema}`: pending intents of kinds no worker of the service handles (a
///   release renamed or dropped a kind while intents of it were queued). Nothing claims or purges them;
///   the first sample, and each that finds another set of such kinds, logs a warning naming them and
///   their counts. Settle them by hand (or release a performer for them again);
/// - `backlog_sampled_timestamp_seconds{schema}`: when the gauges above were last sampled (seconds since
///   1970). A sample that fails leaves them at their last values, perhaps 0: alert when
///   `time() - backlog_sampled_timestamp_seconds` grows, or the alerts on the ages are blind.
public final class BacklogGauges: Service {
    private let tables: RuntimeTables
    private let client: PostgresClient
    private let interval: Duration
    private let logger: Logger
    private let outboxUnsent: Gauge
    private let outboxOldestAge: Gauge
    private let workPending: Gauge
    private let workOldestOverdueAge: Gauge
    private let sampledAt: Gauge
    private let workUnhandled: Gauge
    private let handledKinds: [String]?
    /// The unhandled kinds the last sample found (`nil` before the first): a warning when they change.
    private let unhandledKinds = Mutex<Set<String>?>(nil)

    /// - Parameters:
    ///   - interval: How often to sample (one short query per table).
    ///   - handledKinds: The work-queue kinds the service's workers claim; `nil` (a replay, which
    ///     performs nothing) counts every kind as handled.
    ///   - factory: Where the gauges go; the process's metrics system unless given.
    public init(
        tables: RuntimeTables, client: PostgresClient, interval: Duration = .seconds(15), handledKinds: [String]? = nil,
        factory: (any MetricsFactory)? = nil, logger: Logger
    ) {
        self.tables = tables
        self.handledKinds = handledKinds
        self.client = client
        self.interval = interval
        self.logger = logger
        let dimensions = [("schema", "\(tables.schema)")]
        let factory = factory ?? MetricsSystem.factory
        outboxUnsent = Gauge(label: "outbox_unsent_messages", dimensions: dimensions, factory: factory)
        outboxOldestAge = Gauge(label: "outbox_oldest_unsent_age_seconds", dimensions: dimensions, factory: factory)
        workPending = Gauge(label: "work_queue_pending_items", dimensions: dimensions, factory: factory)
        workOldestOverdueAge = Gauge(label: "work_queue_oldest_overdue_age_seconds", dimensions: dimensions, factory: factory)
        sampledAt = Gauge(label: "backlog_sampled_timestamp_seconds", dimensions: dimensions, factory: factory)
        workUnhandled = Gauge(label: "work_queue_unhandled_items", dimensions: dimensions, factory: factory)
    }

    public func run() async throws {
        var failures = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await sampleOnce()
                if failures >= Self.failuresWorthAWarning { logger.info("backlog sampling works again") }
                failures = 0
            } catch {
                // The gauges keep their last values (backlog_sampled_timestamp_seconds says since when). An
                // outage is reported by the database's readiness check; a failure that persists for another
                // reason (a revoked grant, a renamed column) is worth one warning.
                failures += 1
                let level: Logger.Level = failures == Self.failuresWorthAWarning ? .warning : .debug
                logger.log(level: level, "backlog sample failed; the backlog gauges keep their last values", metadata: [
                    LoggingKeys.error: "\(String(reflecting: error))", LoggingKeys.attempt: "\(failures)",
                ])
            }
            guard await PipelineSleep.sleep(interval) else { return }
        }
    }

    /// Failed samples in a row (a minute at the default interval) that earn a warning.
    static let failuresWorthAWarning = 4

    /// Reads both backlogs once and records them.
    public func sampleOnce(now: Date = Date()) async throws {
        let tables = self.tables
        let logger = self.logger
        let handledKinds = self.handledKinds
        let (outbox, work) = try await client.withConnection { connection in
            (try await tables.outbox.backlog(on: connection, logger: logger),
             try await tables.workQueue.backlog(handledKinds: handledKinds, on: connection, logger: logger))
        }
        outboxUnsent.record(outbox.unsentCount)
        outboxOldestAge.record(outbox.oldestUnsentAt.map { max(0, now.timeIntervalSince($0)) } ?? 0)
        workPending.record(work.pendingCount)
        workOldestOverdueAge.record(work.oldestOverdueAt.map { max(0, now.timeIntervalSince($0)) } ?? 0)
        workUnhandled.record(work.unhandled.values.reduce(0, +))
        sampledAt.record(now.timeIntervalSince1970)
        reportUnhandled(work.unhandled)
    }

    /// Warns when the first sample, or one after it, finds another set of kinds nobody handles.
    private func reportUnhandled(_ unhandled: [String: Int]) {
        let kinds = Set(unhandled.keys)
        let previous = unhandledKinds.withLock { last in defer { last = kinds }; return last }
        guard kinds != previous else { return }
        if kinds.isEmpty {
            if previous != nil { logger.info("no pending work-queue intents of unhandled kinds any more") }
            return
        }
        logger.warning(
            "pending work-queue intents of kinds no worker of this service performs: they stay pending until a performer handles them again or an operator settles them",
            metadata: [
                LoggingKeys.workKind: "\(unhandled.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "))",
                "work.handled": "\((handledKinds ?? []).joined(separator: ","))",
            ])
    }
}
