import Foundation
import Logging
import PostgresNIO

/// How far a service's workers are behind, for metrics: a worker that fails every call, or one that
/// never runs, shows as a growing age here long before a guest notices.
public struct WorkBacklog: Sendable, Hashable {
    /// Intents not finished yet (due or scheduled for later).
    public var pendingCount: Int
    /// When the longest-waiting intent that is due now fell due; `nil` when none is due. Only kinds a
    /// worker handles, when the caller said which.
    public var oldestOverdueAt: Date?
    /// Pending intents of kinds no worker of the service handles (a release renamed or dropped one), by
    /// kind: nothing will ever claim them.
    public var unhandled: [String: Int]

    /// Creates a backlog value.
    public init(pendingCount: Int, oldestOverdueAt: Date?, unhandled: [String: Int] = [:]) {
        self.pendingCount = pendingCount
        self.oldestOverdueAt = oldestOverdueAt
        self.unhandled = unhandled
    }
}

extension WorkQueue {
    /// Pending intents, and the due time of the oldest one that is due now (a lease counts as due:
    /// a live worker holds it, a dead one's runs out).
    /// - Parameter handledKinds: The kinds the service's workers claim; with them, the oldest overdue
    ///   intent is one of theirs (intents nobody claims would pin it at their age) and the others are
    ///   counted in ``WorkBacklog/unhandled``. `nil`: every kind counts, none is reported unhandled.
    public func backlog(handledKinds: [String]? = nil, on connection: PostgresConnection, logger: Logger) async throws -> WorkBacklog {
        let table = "\(self.schema).work_queue"
        let rows = try await connection.query(
            """
            SELECT count(*)::int,
                   min(due_at) FILTER (WHERE due_at <= now() AND (\(handledKinds)::text[] IS NULL OR kind = ANY(\(handledKinds)::text[])))
            FROM \(unescaped: table) WHERE status = \(WorkStatus.pending.rawValue)
            """,
            logger: logger
        ).collect()
        let (count, oldest) = try rows[0].decode((Int, Date?).self)
        var unhandled: [String: Int] = [:]
        if let handledKinds {
            let kinds = try await connection.query(
                """
                SELECT kind, count(*)::int FROM \(unescaped: table)
                WHERE status = 'pending' AND kind <> ALL(\(handledKinds)::text[]) GROUP BY kind
                """,
                logger: logger)
            for try await (kind, count) in kinds.decode((String, Int).self) { unhandled[kind] = count }
        }
        return WorkBacklog(pendingCount: count, oldestOverdueAt: oldest, unhandled: unhandled)
    }
}
