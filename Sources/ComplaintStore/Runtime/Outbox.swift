import Foundation
import Logging
import NIOCore
import PostgresNIO

/// The outbox of one service schema: messages written in the producing transaction and published afterwards by a
/// relay, so that a state change and the events announcing it commit or vanish together.
///
/// **Producing.** ``enqueue(_:on:logger:)`` inserts rows on the caller's connection, inside the caller's transaction,
/// and issues `pg_notify('<schema>_outbox', '')` in that same transaction, so a listening relay wakes as soon as the
/// rows are committed (and not at all if they roll back).
///
/// **Relaying.** A relay claims rows with ``claim(limit:lease:on:logger:)`` (one statement: the rows are leased, the
/// transaction ends at once), publishes each record outside any transaction, then calls ``markSent(ids:on:logger:)``
/// for the acknowledged ones and ``release(id:error:claim:on:logger:)`` for the others. Nothing is marked sent before
/// its acknowledgement, and a crashed relay's leases run out, so a crash between publish and mark republishes,
/// never loses.
///
/// **Claiming and ordering.** The claim selects unsent, unleased rows `FOR UPDATE SKIP LOCKED` in id order, and only
/// rows that are the *oldest unsent row of their aggregate key* (no unsent row with the same key and a lower id is
/// visible). Consequences:
/// - Concurrent relays never receive the same row (row locks while claiming, then the lease).
/// - Per-key order holds by construction: while relay A leases key K's head row, relay B cannot take K's next row,
///   because that row is not a head as long as the head is unsent; a head whose publish failed stays the head. No
///   advisory locks are involved, so there are no hash collisions and no locks held on rows never returned.
/// - Nothing is ever skipped: there is no "id greater than the last one seen" cursor. A row whose transaction
///   commits late (a lower id becoming visible after higher ids were published) is simply claimed on a later poll.
/// - The price: at most one row per key per batch. Complaint keys are not hot (a complaint yields a handful of
///   events), so batches fill up across keys.
///
/// Rows with the same aggregate key should be enqueued by transactions that serialise on that aggregate (e.g. lock
/// the complaint row first): then id order is commit order. Unserialised concurrent transactions on one key have no
/// meaningful order to preserve.
public struct Outbox: Sendable {
    /// The schema holding the `outbox` table.
    public let schema: SchemaName

    /// Addresses `<schema>.outbox`, created by ``RuntimeTables/migrations()``.
    public init(schema: SchemaName) {
        self.schema = schema
    }

    private var table: String { "\(self.schema).outbox" }

    /// The `LISTEN` channel notified when rows are enqueued: `<schema>_outbox`.
    public var notificationChannel: String { "\(self.schema)_outbox" }

    // MARK: Producing

    /// Inserts `rows` in order and notifies ``notificationChannel``, on `connection` inside the caller's transaction.
    ///
    /// - Returns: The new row ids, in the order of `rows`.
    @discardableResult
    public func enqueue(_ rows: [OutboxRow], on connection: PostgresConnection, logger: Logger) async throws -> [Int64] {
        guard !rows.isEmpty else { return [] }
        var ids: [Int64] = []
        ids.reserveCapacity(rows.count)
        // 5 parameters per row; stay well below the protocol's 65 535 parameter limit.
        let chunkSize = 1000
        var start = rows.startIndex
        while start < rows.endIndex {
            let end = min(start + chunkSize, rows.endIndex)
            ids += try await self.insert(rows[start..<end], notify: start == rows.startIndex, on: connection, logger: logger)
            start = end
        }
        return ids
    }

    private func insert(
        _ rows: ArraySlice<OutboxRow>,
        notify: Bool,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> [Int64] {
        var bindings = PostgresBindings(capacity: rows.count * 5 + 1)
        var values: [String] = []
        values.reserveCapacity(rows.count)
        for (offset, row) in rows.enumerated() {
            let base = offset * 5
            values.append("($\(base + 1)::text, $\(base + 2)::text, $\(base + 3)::bytea, $\(base + 4)::bytea, $\(base + 5)::jsonb)")
            bindings.append(row.topic)
            bindings.append(row.aggregateKey)
            bindings.append(row.key)
            bindings.append(row.value)
            bindings.append(try OutboxHeaderCoding.encode(row.headers))
        }
        var sql = """
            WITH inserted AS (
                INSERT INTO \(self.table) (topic, aggregate_key, key, value, headers)
                VALUES \(values.joined(separator: ", "))
                RETURNING id
            )
            """
        if notify {
            // One notification per transaction is enough (PostgreSQL folds identical ones anyway); it is delivered
            // only if and when the transaction commits.
            bindings.append(self.notificationChannel)
            sql += "\nSELECT inserted.id FROM inserted CROSS JOIN (SELECT pg_notify($\(rows.count * 5 + 1), '')) AS notified"
        } else {
            sql += "\nSELECT inserted.id FROM inserted"
        }
        sql += " ORDER BY inserted.id"
        let result = try await connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
        var ids: [Int64] = []
        for try await id in result.decode(Int64.self) {
            ids.append(id)
        }
        return ids
    }

    // MARK: Relaying

    /// Claims up to `limit` publishable rows, oldest first, by leasing them for `lease`, in one statement that
    /// commits at once: no transaction stays open while the caller publishes.
    ///
    /// A row is publishable when it is unsent, not leased by anyone (or its lease ran out: a relay died), and the
    /// oldest unsent row of its aggregate key. Then publish and call ``markSent(ids:on:logger:)`` for the
    /// acknowledged rows and ``release(id:error:claim:on:logger:)`` for the others. A relay that dies in between
    /// leaves leases that run out, and the rows are published again (never lost).
    ///
    /// - Important: Make `lease` longer than the longest publish: a lease that runs out while its publish is still
    ///   waiting lets another relay publish the row a second time (consumers de-duplicate by event id, but it is waste).
    public func claim(limit: Int, lease: Duration, on connection: PostgresConnection, logger: Logger) async throws -> OutboxClaim {
        precondition(limit > 0, "limit must be positive")
        let token = UUID()
        let leaseMilliseconds = lease.milliseconds
        let rows = try await connection.query(
            """
            WITH heads AS (
                SELECT o.id
                FROM \(unescaped: self.table) AS o
                WHERE o.sent_at IS NULL
                  AND (o.claimed_until IS NULL OR o.claimed_until < clock_timestamp())
                  AND NOT EXISTS (
                      SELECT 1 FROM \(unescaped: self.table) AS earlier
                      WHERE earlier.aggregate_key = o.aggregate_key AND earlier.sent_at IS NULL AND earlier.id < o.id
                  )
                ORDER BY o.id
                LIMIT \(limit)
                FOR UPDATE OF o SKIP LOCKED
            )
            UPDATE \(unescaped: self.table) AS o
            SET claimed_until = clock_timestamp() + make_interval(secs => \(Double(leaseMilliseconds) / 1000)), claim_token = \(token)
            FROM heads WHERE o.id = heads.id
            RETURNING o.id, o.topic, o.aggregate_key, o.key, o.value, o.headers::text, o.created_at, o.attempts
            """,
            logger: logger
        )
        var records: [OutboxRecord] = []
        for try await (id, topic, aggregateKey, key, value, headers, createdAt, attempts) in rows.decode(
            (Int64, String, String, ByteBuffer?, ByteBuffer, String, Date, Int).self
        ) {
            records.append(OutboxRecord(
                id: id,
                topic: topic,
                aggregateKey: aggregateKey,
                key: key,
                value: value,
                headers: try OutboxHeaderCoding.decode(headers),
                createdAt: createdAt,
                attempts: attempts
            ))
        }
        // RETURNING may come in any order; keep id order for the relay.
        return OutboxClaim(token: token, records: records.sorted { $0.id < $1.id })
    }

    /// Marks rows as published (after their delivery reports acknowledged them) and ends their leases.
    ///
    /// - Returns: How many rows changed (already-sent ids are left alone).
    @discardableResult
    public func markSent(ids: [Int64], on connection: PostgresConnection, logger: Logger) async throws -> Int {
        guard !ids.isEmpty else { return 0 }
        let rows = try await connection.query(
            """
            UPDATE \(unescaped: self.table)
            SET sent_at = now(), last_attempt_at = now(), claimed_until = NULL, claim_token = NULL
            WHERE id = ANY(\(ids)) AND sent_at IS NULL
            RETURNING id
            """,
            logger: logger
        ).collect()
        return rows.count
    }

    /// Gives back a claimed row whose publish failed: increments `attempts`, stores the error text (cut to 2000
    /// characters) and ends the lease, if `claim` still holds it. The row stays unsent and remains the head of
    /// its key, so later rows of that key wait for it.
    ///
    /// - Parameter retryAfter: How long no relay may claim the row again (its lease becomes this backoff).
    ///   A row that keeps failing while others go out (a topic it may not write, a message the broker
    ///   refuses) then stops taking a place in every round.
    public func release(
        id: Int64, error: String, claim: OutboxClaim, retryAfter: Duration = .zero, on connection: PostgresConnection, logger: Logger
    ) async throws {
        let text = String(error.prefix(2000))
        let backoffSeconds = Double(retryAfter.milliseconds) / 1000
        try await connection.query(
            """
            UPDATE \(unescaped: self.table)
            SET attempts = attempts + 1, last_error = \(text), last_attempt_at = now(),
                claimed_until = CASE WHEN \(backoffSeconds) > 0 THEN clock_timestamp() + make_interval(secs => \(backoffSeconds)) END,
                claim_token = NULL
            WHERE id = \(id) AND claim_token = \(claim.token) AND sent_at IS NULL
            """,
            logger: logger
        )
    }

    /// Records that a claimed row went to the dead-letter topic instead of its own, because the broker can
    /// never accept it: the row counts as sent (its key's later rows become publishable) and keeps the
    /// error and `dead_lettered_at`. Does nothing unless `claim` still holds the row.
    ///
    /// - Returns: Whether the row changed.
    @discardableResult
    public func markDeadLettered(id: Int64, error: String, claim: OutboxClaim, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        let text = String(error.prefix(2000))
        let rows = try await connection.query(
            """
            UPDATE \(unescaped: self.table)
            SET attempts = attempts + 1, last_error = \(text), last_attempt_at = now(), sent_at = now(),
                dead_lettered_at = now(), claimed_until = NULL, claim_token = NULL
            WHERE id = \(id) AND claim_token = \(claim.token) AND sent_at IS NULL
            RETURNING id
            """,
            logger: logger
        ).collect()
        return !rows.isEmpty
    }

    // MARK: Monitoring and retention

    /// How far the relay is behind: unsent rows and the enqueue time of the oldest.
    public func backlog(on connection: PostgresConnection, logger: Logger) async throws -> OutboxBacklog {
        let rows = try await connection.query(
            "SELECT count(*), min(created_at) FROM \(unescaped: self.table) WHERE sent_at IS NULL",
            logger: logger
        ).collect()
        let (count, oldest) = try rows[0].decode((Int, Date?).self)
        return OutboxBacklog(unsentCount: count, oldestUnsentAt: oldest)
    }

    /// Deletes up to `limit` rows sent before `date` (retention works in small batches so that it never holds
    /// many row locks or a long transaction).
    ///
    /// - Returns: How many rows were deleted; fewer than `limit` means none is left.
    @discardableResult
    public func purge(sentBefore date: Date, limit: Int = 1000, on connection: PostgresConnection, logger: Logger) async throws -> Int {
        let rows = try await connection.query(
            """
            DELETE FROM \(unescaped: self.table) WHERE id IN (
                SELECT id FROM \(unescaped: self.table) WHERE sent_at < \(date) ORDER BY sent_at LIMIT \(limit))
            RETURNING 1
            """,
            logger: logger
        ).collect()
        return rows.count
    }
}
