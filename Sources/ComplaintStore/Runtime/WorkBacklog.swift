import Foundation
import Logging
import PostgresNIO

/// How far a service's workers are behind, for metrics: a worker that fails every call, or one that
/// never runs, shows as a growing age here long before a guest notices.
public struct WorkBacklog: Sendable, Hashable {
    /// Intents not finished yet (due or scheduled for later).
    public var pendingCount: Int
    /// When the longest-waiting intent that is due now fell due; `nil` when none is due.
    public var oldestOverdueAt: Date?

    /// Creates a backlog value.
    public init(pendingCount: Int, oldestOverdueAt: Date?) {
        self.pendingCount = pendingCount
        self.oldestOverdueAt = oldestOverdueAt
    }
}

extension WorkQueue {
    /// Pending intents, and the due time of the oldest one that is due now (a lease counts as due:
    /// a live worker holds it, a dead one's runs out).
    public func backlog(on connection: PostgresConnection, logger: Logger) async throws -> WorkBacklog {
        let rows = try await connection.query(
            """
            SELECT count(*)::int, min(due_at) FILTER (WHERE due_at <= now())
            FROM \(unescaped: "\(self.schema).work_queue") WHERE status = \(WorkStatus.pending.rawValue)
            """,
            logger: logger
        ).collect()
        let (count, oldest) = try rows[0].decode((Int, Date?).self)
        return WorkBacklog(pendingCount: count, oldestOverdueAt: oldest)
    }
}
