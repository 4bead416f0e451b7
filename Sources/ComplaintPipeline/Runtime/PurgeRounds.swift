import Logging
import ServiceLifecycle

/// The schedule and batching every retention job shares (the runtime's own tables, intake's
/// idempotency keys, the SLA watcher's clocks, the classifier's verdicts): a round at start, then one
/// every interval until graceful shutdown, each deleting in short batches that let the stage's
/// transactions in between.
public enum PurgeRounds {
    /// Runs `round` at start and then every `interval` until graceful shutdown. A round that fails is
    /// logged as a warning (`failure`) and tried again at the next one.
    public static func run(
        every interval: Duration, failure: String, logger: Logger, _ round: () async throws -> Void
    ) async {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await round()
            } catch {
                logger.warning("\(failure); trying again next round", metadata: [LoggingKeys.error: "\(String(reflecting: error))"])
            }
            guard await PipelineSleep.sleep(interval) else { return }
        }
    }

    /// For a job switched off by its setting: logs `reason` and waits for graceful shutdown, since a
    /// background service that ends makes the stage unready.
    public static func idle(_ reason: String, logger: Logger) async {
        logger.info("\(reason)")
        try? await gracefulShutdown()
    }

    /// Calls `batch` (which deletes at most `limit` rows in one short transaction and returns how many
    /// it deleted) until one deletes fewer or graceful shutdown begins; returns how many went in all.
    public static func drain(limit: Int, _ batch: () async throws -> Int) async throws -> Int {
        var total = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let deleted = try await batch()
            total += deleted
            if deleted < limit { break }
            // Let the stage's transactions in between batches.
            await Task.yield()
        }
        return total
    }
}
