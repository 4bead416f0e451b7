import ComplaintPipeline
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle

/// Keeps the `classifier` schema to what still serves a purpose, so its tables stop growing for ever:
///
/// - `guest_history`: a complaint registered longer ago than the repeat window (``GuestVisit/repeatWindow``,
///   30 days) plus the inbox's age (an event is applied at most that late: the pipeline passes over
///   older ones) plus a day makes no later complaint a repeat: it goes (40 days by default).
/// - `classifications` whose verdict last changed (`classified_at`: a staff correction renews it) longer
///   ago than ``Configuration/retention`` (`CLASSIFIER_RETENTION_DAYS`, 90 days), with their
///   `classification_corrections` (who corrected it, why, and the `Idempotency-Key`s of those requests).
///   A correction of such a complaint answers 404, as for one never classified; its event is older than
///   the inbox remembers, so no redelivery classifies it again.
///
/// It runs at start and then every ``Configuration/interval``, in batches of one short transaction
/// each that skip the rows another transaction holds (a correction in progress), so the stage and the
/// route never wait behind it and every replica may run it.
public struct ClassifierRetention: Service {
    /// How long rows stay, and the purge's pace.
    public struct Configuration: Sendable, Hashable {
        /// How long a verdict (and its corrections) stays after it last changed (`nil`: everything is
        /// kept for ever, guest history too). Default 90 days; never less than ``inboxAge`` and a day.
        public var retention: Duration? = ClassifierRetention.defaultRetention
        /// How long the inbox remembers an event (`INBOX_RETENTION_DAYS`, default 9 days): how late an
        /// event can still be applied.
        public var inboxAge: Duration = .seconds(9 * 86_400)
        /// How often a purge round runs (default hourly; the first runs at start).
        public var interval: Duration = .seconds(3_600)
        /// Rows deleted per transaction.
        public var batchSize = 500
        public init() {}

        /// Guest history older than this makes no complaint a repeat any more.
        public var guestHistoryAge: Duration {
            .seconds(Int64(GuestVisit.repeatWindow)) + inboxAge + .seconds(86_400)
        }

        /// Verdicts older than this go (``retention``, but never before the inbox forgets their event).
        public var verdictAge: Duration? {
            retention.map { max($0, inboxAge + .seconds(86_400)) }
        }
    }

    /// 90 days, as the SLA watcher's clocks.
    public static let defaultRetention: Duration = .seconds(90 * 86_400)

    /// What one round deleted.
    public struct Purged: Sendable, Hashable {
        public var guestHistory = 0
        public var classifications = 0
        public var corrections = 0
        public var total: Int { guestHistory + classifications + corrections }
        public init() {}
    }

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
            return await PurgeRounds.idle("classifier retention off: verdicts and guest history are kept for ever", logger: logger)
        }
        await PurgeRounds.run(every: configuration.interval, failure: "purging old classifier rows failed", logger: logger) {
            let purged = try await purgeOnce()
            if purged.total > 0 {
                logger.info("retention purged old classifier rows", metadata: [
                    "classifier.purged.guest_history": "\(purged.guestHistory)",
                    "classifier.purged.classifications": "\(purged.classifications)",
                    "classifier.purged.corrections": "\(purged.corrections)",
                ])
            }
        }
    }

    /// Deletes everything past its age as of `now`, batch by batch; stops early on graceful shutdown.
    @discardableResult
    public func purgeOnce(now: Date = Date()) async throws -> Purged {
        var purged = Purged()
        guard let verdictAge = configuration.verdictAge else { return purged }
        func cutoff(_ age: Duration) -> Date { now.addingTimeInterval(-Double(age.components.seconds)) }
        let guestCutoff = cutoff(configuration.guestHistoryAge)
        let verdictCutoff = cutoff(verdictAge)
        let limit = configuration.batchSize
        let store = self.store
        // Batches of `limit` rows (their first count); the second counts rows deleted along with them.
        func drain(_ step: @escaping @Sendable (PostgresConnection, Logger) async throws -> (Int, Int)) async throws -> (Int, Int) {
            var alongside = 0
            let deleted = try await PurgeRounds.drain(limit: limit) {
                let batch = try await store.write { connection, logger in (try await step(connection, logger), []) }
                alongside += batch.1
                return batch.0
            }
            return (deleted, alongside)
        }
        purged.guestHistory = try await drain { connection, logger in
            let rows = try await connection.query(Self.guestHistoryBatch(before: guestCutoff, limit: limit), logger: logger).collect()
            return (rows.count, 0)
        }.0
        (purged.classifications, purged.corrections) = try await drain { connection, logger in
            // The verdict rows first, locked (a correction in progress holds its row: skipped), then
            // their corrections, which reference them, then the rows.
            let doomed = try await connection.query(Self.verdictBatch(before: verdictCutoff, limit: limit), logger: logger)
                .collect().map { try $0.decode(UUID.self) }
            guard !doomed.isEmpty else { return (0, 0) }
            let corrections = try await connection.query(
                "DELETE FROM classification_corrections WHERE complaint_id = ANY(\(doomed)) RETURNING 1", logger: logger
            ).collect().count
            let verdicts = try await connection.query(
                "DELETE FROM classifications WHERE complaint_id = ANY(\(doomed)) RETURNING 1", logger: logger
            ).collect().count
            return (verdicts, corrections)
        }
        return purged
    }

    /// Deletes a batch of guest history registered before `cutoff` (found by `guest_history_registered_at`).
    static func guestHistoryBatch(before cutoff: Date, limit: Int) -> PostgresQuery {
        """
        DELETE FROM guest_history WHERE complaint_id IN (
            SELECT complaint_id FROM guest_history WHERE registered_at < \(cutoff)
            LIMIT \(limit) FOR UPDATE SKIP LOCKED)
        RETURNING 1
        """
    }

    /// Locks a batch of verdicts unchanged since `cutoff` (found by `classifications_classified_at`).
    static func verdictBatch(before cutoff: Date, limit: Int) -> PostgresQuery {
        """
        SELECT complaint_id FROM classifications WHERE classified_at < \(cutoff)
        LIMIT \(limit) FOR UPDATE SKIP LOCKED
        """
    }
}
