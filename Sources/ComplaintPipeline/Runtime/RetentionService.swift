import ComplaintStore
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle

/// Keeps a service's runtime tables small: deletes inbox marks, sent outbox rows and settled work
/// intents older than ``Configuration/age``, in small batches (one short statement each), so the
/// stage is never blocked behind it.
///
/// The age must exceed how long a message can be redelivered: Kafka keeps a record until its whole
/// segment is older than `retention.ms`, so up to `retention.ms` + `segment.ms`. The pipeline passes
/// over any message older than the age (``PipelineConfiguration/inboxHorizon``), so an inbox mark
/// purged too early costs that message, never a second application.
public final class RetentionService: Service {
    /// How old a row must be to go, and how often a purge round runs.
    public struct Configuration: Sendable, Hashable {
        /// Rows older than this are deleted (default 9 days: `redress topics`' 7-day `retention.ms` plus
        /// its 1-day `segment.ms`, plus a day's margin).
        public var age: Duration = .seconds(9 * 86_400)
        /// How often a purge round runs (default hourly; the first runs at start).
        public var interval: Duration = .seconds(3_600)
        /// Rows deleted per statement.
        public var batchSize = 1_000
        public init() {}
    }

    private let tables: RuntimeTables
    private let client: PostgresClient
    private let configuration: Configuration
    private let logger: Logger

    public init(tables: RuntimeTables, client: PostgresClient, configuration: Configuration = Configuration(), logger: Logger) {
        self.tables = tables
        self.client = client
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws {
        await PurgeRounds.run(every: configuration.interval, failure: "retention round failed", logger: logger) {
            let purged = try await purgeOnce()
            if purged.total > 0 {
                logger.info("retention purged old runtime rows", metadata: [
                    "inbox": "\(purged.inbox)", "outbox": "\(purged.outbox)", "work": "\(purged.work)",
                ])
            }
        }
    }

    /// What one round deleted.
    public struct Purged: Sendable, Hashable {
        public var inbox = 0
        public var outbox = 0
        public var work = 0
        public var total: Int { inbox + outbox + work }

        public init(inbox: Int = 0, outbox: Int = 0, work: Int = 0) {
            self.inbox = inbox
            self.outbox = outbox
            self.work = work
        }
    }

    /// Deletes everything older than the age, batch by batch; stops early on graceful shutdown.
    @discardableResult
    public func purgeOnce(now: Date = Date()) async throws -> Purged {
        let horizon = now.addingTimeInterval(-Double(configuration.age.milliseconds) / 1000)
        let limit = configuration.batchSize
        var purged = Purged()
        let tables = self.tables
        let logger = self.logger
        func drain(_ step: @escaping @Sendable (PostgresConnection) async throws -> Int) async throws -> Int {
            try await PurgeRounds.drain(limit: limit) { try await client.withConnection { try await step($0) } }
        }
        purged.inbox = try await drain { try await tables.processedEvents.purge(processedBefore: horizon, limit: limit, on: $0, logger: logger) }
        purged.outbox = try await drain { try await tables.outbox.purge(sentBefore: horizon, limit: limit, on: $0, logger: logger) }
        purged.work = try await drain { try await tables.workQueue.purge(completedBefore: horizon, limit: limit, on: $0, logger: logger) }
        return purged
    }
}
