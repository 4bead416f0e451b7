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
///   the longest-waiting intent that is due has waited (0 when none is due).
public final class BacklogGauges: Service {
    private let tables: RuntimeTables
    private let client: PostgresClient
    private let interval: Duration
    private let logger: Logger
    private let outboxUnsent: Gauge
    private let outboxOldestAge: Gauge
    private let workPending: Gauge
    private let workOldestOverdueAge: Gauge

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
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await sampleOnce()
            } catch {
                // The gauges keep their last values; the database's own readiness check reports the outage.
                logger.debug("backlog sample failed", metadata: [LoggingKeys.error: "\(String(reflecting: error))"])
            }
            guard await PipelineSleep.sleep(interval) else { return }
        }
    }

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
    }
}
