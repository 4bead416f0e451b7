import Logging
import PostgresNIO

/// Serialises the transactions of one service that touch the same subject (a guest, a set of
/// complaints) with PostgreSQL's transaction-scoped advisory locks, released at commit or rollback.
///
/// Advisory locks are database-wide and every service sees the same guests and complaints at about
/// the same time, so each caller names a key space of its own: the two-integer form, the first key
/// the hash of the space, the second the hash of the subject. A hash collision only makes two
/// unrelated subjects wait for each other.
public enum SubjectLock {
    /// Waits for and takes the locks on `subjects`, each lock once, in the order of their hashed keys
    /// whatever order the subjects are given in: two transactions taking overlapping sets never wait
    /// for each other in a circle, even when two subjects share a hash (taken in the subjects' order,
    /// `a` < `b` whose keys collide with `y` and `x` could be taken as (k1, k2) by one transaction and
    /// (k2, k1) by another).
    public static func acquire(
        _ subjects: [String], keySpace space: String, on connection: PostgresConnection, logger: Logger
    ) async throws {
        guard !subjects.isEmpty else { return }
        // Locked as the sorted keys come out of the subquery, so in key order.
        _ = try await connection.query(
            """
            SELECT pg_advisory_xact_lock(hashtext(\(space)), key)
            FROM (SELECT DISTINCT hashtext(subject) AS key FROM unnest(\(subjects)::text[]) AS s(subject) ORDER BY key) AS ordered
            """,
            logger: logger
        ).collect()
    }
}
