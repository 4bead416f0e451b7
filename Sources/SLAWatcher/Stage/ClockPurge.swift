import ComplaintPipeline
import ComplaintStore
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle

/// Keeps the `sla` schema to the complaints that still matter: deletes the clocks of complaints that are
/// over — closed, or resolved with the follow-up fired — or never started, untouched for longer than the
/// retention (`SLA_RETENTION_DAYS`), with their timers (see ``ClockStore/purge(endedBefore:limit:on:logger:)``).
///
/// It runs at start and then every ``Configuration/interval``, in batches of one short transaction each
/// that skip the clocks another transaction holds, so handlers and the sweep never wait behind it and
/// every replica may run it.
///
/// A complaint purged here and reopened later has no clock to reopen: the watcher logs it and runs no
/// clock for that reopening, and an assignment of a complaint registered before the retention starts no
/// clock either (see ``Clockwork/retention``), so the deadlines of months ago never all fire at once.
public struct ClockPurge: Service {
    public struct Configuration: Sendable, Hashable {
        /// How long a clock that is over stays (`nil`: for ever). Default 90 days.
        public var retention: Duration? = ClockPurge.defaultRetention
        /// How often a purge round runs (default hourly; the first runs at start).
        public var interval: Duration = .seconds(3_600)
        /// Clocks deleted per transaction.
        public var batchSize = 500
        public init() {}
    }

    public static let defaultRetention: Duration = .seconds(90 * 86_400)

    let clockwork: Clockwork
    let store: StageStore
    let configuration: Configuration
    let logger: Logger

    public init(clockwork: Clockwork, store: StageStore, configuration: Configuration = Configuration(), logger: Logger) {
        self.clockwork = clockwork
        self.store = store
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws {
        guard configuration.retention != nil else {
            return await PurgeRounds.idle("clock retention off: clocks are kept for ever", logger: logger)
        }
        await PurgeRounds.run(every: configuration.interval, failure: "purging old clocks failed", logger: logger) {
            let purged = try await purgeOnce()
            if purged > 0 { logger.info("retention purged clocks that were over", metadata: ["sla.clocks.purged": "\(purged)"]) }
        }
    }

    /// Deletes every clock past the retention as of the watcher's clock, batch by batch; returns how
    /// many went. Stops early on graceful shutdown.
    @discardableResult
    public func purgeOnce() async throws -> Int {
        guard let retention = configuration.retention else { return 0 }
        let cutoff = clockwork.clock().addingTimeInterval(-Double(retention.milliseconds) / 1000)
        let limit = configuration.batchSize
        let clockStore = clockwork.store
        return try await PurgeRounds.drain(limit: limit) {
            try await store.write { connection, logger in
                (try await clockStore.purge(endedBefore: cutoff, limit: limit, on: connection, logger: logger).count, [])
            }
        }
    }
}
