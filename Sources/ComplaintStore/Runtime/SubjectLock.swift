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
    /// Waits for and takes the locks on `subjects` in the order given (callers that take several
    /// sort them, so that two transactions never wait for each other in a circle).
    public static func acquire(
        _ subjects: [String], keySpace space: String, on connection: PostgresConnection, logger: Logger
    ) async throws {
        guard !subjects.isEmpty else { return }
        _ = try await connection.query(
            """
            SELECT pg_advisory_xact_lock(hashtext(\(space)), key)
            FROM (SELECT hashtext(subject) AS key FROM unnest(\(subjects)::text[]) WITH ORDINALITY AS s(subject, position)
                  ORDER BY position) AS ordered
            """,
            logger: logger
        ).collect()
    }
}
