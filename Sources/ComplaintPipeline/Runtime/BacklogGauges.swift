import ComplaintStore
import Foundation
import Logging
import Metrics
import PostgresNIO
import ServiceLifecycle

/// Samples how far a service's outbox and work queue are behind into gauges on `/metrics`, so that an
/// SRE can alert on progress and not only on liveness: a relay failing every round or a worker whose
/// calls all fail leaves the process healthy while the age of its oldest row grows.
///
/// - `outbox_unsent_messages{schema}` and `outbox_oldest_unsent_age_seconds{schema}` (0 when empty);
/// - `work_queue_pending_items{schema}` and `work_queue_oldest_overdue_age_seconds{schema}`: how long
///   the longest-waiting intent that is due has waited (0 when none is due);
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

    /// - Parameters:
    ///   - interval: How often to sample (one short query per table).
    ///   - factory: Where the gauges go; the process's metrics system unless given.
    public init(tables: RuntimeTables, client: PostgresClient, interval: Duration = .seconds(15), factory: (any MetricsFactory)? = nil, logger: Logger) {
        self.tables = tables
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
        let (outbox, work) = try await client.withConnection { connection in
            (try await tables.outbox.backlog(on: connection, logger: logger), try await tables.workQueue.backlog(on: connection, logger: logger))
        }
        outboxUnsent.record(outbox.unsentCount)
        outboxOldestAge.record(outbox.oldestUnsentAt.map { max(0, now.timeIntervalSince($0)) } ?? 0)
        workPending.record(work.pendingCount)
        workOldestOverdueAge.record(work.oldestOverdueAt.map { max(0, now.timeIntervalSince($0)) } ?? 0)
        sampledAt.record(now.timeIntervalSince1970)
    }
}
