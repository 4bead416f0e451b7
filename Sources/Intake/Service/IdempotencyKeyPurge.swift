import ComplaintPipeline
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle

/// Keeps `idempotency_keys` to the window in which a retry with the same `Idempotency-Key` is
/// recognised: keys older than ``Configuration/retention`` (`INTAKE_IDEMPOTENCY_KEY_DAYS`, 30 days) are
/// deleted, at start and then every ``Configuration/interval``, in batches of one short transaction each
/// that skip the rows another transaction holds, so requests never wait behind it and every replica may
/// run it.
///
/// A retry after the window is a new request: a submission is still registered once (hotel + source +
/// externalId), but a staff action applies again.
public struct IdempotencyKeyPurge: Service {
    public struct Configuration: Sendable, Hashable {
        /// How long a key is kept (`nil`: for ever). Default 30 days.
        public var retention: Duration? = IdempotencyKeyPurge.defaultRetention
        /// How often a purge round runs (default hourly; the first runs at start).
        public var interval: Duration = .seconds(3_600)
        /// Keys deleted per transaction.
        public var batchSize = 500
        public init() {}
    }

    public static let defaultRetention: Duration = .seconds(30 * 86_400)

    let store: StageStore
    let configuration: Configuration
    let logger: Logger

    public init(store: StageStore, configuration: Configuration = Configuration(), logger: Logger) {
        self.store = store
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws {
        guard configuration.retention != nil else {
            return await PurgeRounds.idle("idempotency key retention off: keys are kept for ever", logger: logger)
        }
        await PurgeRounds.run(every: configuration.interval, failure: "purging old idempotency keys failed", logger: logger) {
            let purged = try await purgeOnce()
            if purged > 0 { logger.info("retention purged old idempotency keys", metadata: ["intake.idempotency.keys.purged": "\(purged)"]) }
        }
    }

    /// Deletes every key older than the retention as of `now`, batch by batch; returns how many went.
    /// Stops early on graceful shutdown.
    @discardableResult
    public func purgeOnce(now: Date = Date()) async throws -> Int {
        guard let retention = configuration.retention else { return 0 }
        let cutoff = now.addingTimeInterval(-Double(retention.components.seconds))
        let limit = configuration.batchSize
        return try await PurgeRounds.drain(limit: limit) {
            try await store.write { connection, logger in
                let rows = try await connection.query("""
                    DELETE FROM idempotency_keys WHERE (api_key_id, idempotency_key) IN (
                        SELECT api_key_id, idempotency_key FROM idempotency_keys
                        WHERE created_at < \(cutoff)
                        LIMIT \(limit) FOR UPDATE SKIP LOCKED)
                    RETURNING 1
                    """, logger: logger).collect()
                return (rows.count, [])
            }
        }
    }
}
