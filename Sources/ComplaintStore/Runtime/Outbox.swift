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
/// **Relaying.** A relay runs, in one transaction: ``claimBatch(limit:on:logger:)``, publish each record, then
/// ``markSent(ids:on:logger:)`` for the acknowledged ones and ``recordFailure(id:error:on:logger:)`` for the others;
/// then commit. ``withClaimedBatch(limit:client:logger:isolation:_:)`` wraps that transaction. The claim's row locks
/// last until the commit, so a crashed relay's rows become claimable again at once, and nothing is marked sent
/// unless the transaction commits (a crash between publish and commit republishes, never loses).
///
/// **Claiming and ordering.** The claim selects unsent rows `FOR UPDATE SKIP LOCKED` in id order, and only rows
/// that are the *oldest unsent row of their aggregate key* (no unsent row with the same key and a lower id is
/// visible). Consequences:
/// - Concurrent relays never receive the same row (row locks, skipped not waited for).
/// - Per-key order holds by construction: while relay A holds key K's head row, relay B cannot take K's next row,
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

    /// Claims up to `limit` publishable rows, oldest first, locking them until the caller's transaction ends.
    ///
    /// - Important: Call this inside a transaction on `connection`, publish, then mark the rows in the same
    ///   transaction; outside a transaction the locks would be released immediately.
    public func claimBatch(limit: Int, on connection: PostgresConnection, logger: Logger) async throws -> [OutboxRecord] {
        precondition(limit > 0, "limit must be positive")
        let rows = try await connection.query(
            """
            SELECT o.id, o.topic, o.aggregate_key, o.key, o.value, o.headers::text, o.created_at, o.attempts
            FROM \(unescaped: self.table) AS o
            WHERE o.sent_at IS NULL
              AND NOT EXISTS (
                  SELECT 1 FROM \(unescaped: self.table) AS earlier
                  WHERE earlier.aggregate_key = o.aggregate_key AND earlier.sent_at IS NULL AND earlier.id < o.id
              )
            ORDER BY o.id
            LIMIT \(limit)
            FOR UPDATE OF o SKIP LOCKED
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
        // The lock step may return rows in any order; keep id order for the relay.
        return records.sorted { $0.id < $1.id }
    }

    /// Marks rows as published.
    ///
    /// - Returns: How many rows changed (already-sent ids are left alone).
    @discardableResult
    public func markSent(ids: [Int64], on connection: PostgresConnection, logger: Logger) async throws -> Int {
        guard !ids.isEmpty else { return 0 }
        let rows = try await connection.query(
            """
            UPDATE \(unescaped: self.table) SET sent_at = now(), last_attempt_at = now()
            WHERE id = ANY(\(ids)) AND sent_at IS NULL
            RETURNING id
            """,
            logger: logger
        ).collect()
        return rows.count
    }

    /// Records a failed publish attempt: increments `attempts` and stores the error text (cut to 2000 characters).
    /// The row stays unsent and remains the head of its key, so later rows of that key wait for it.
    public func recordFailure(id: Int64, error: String, on connection: PostgresConnection, logger: Logger) async throws {
        let text = String(error.prefix(2000))
        try await connection.query(
            """
            UPDATE \(unescaped: self.table)
            SET attempts = attempts + 1, last_error = \(text), last_attempt_at = now()
            WHERE id = \(id)
            """,
            logger: logger
        )
    }

    /// Runs one relay round in a transaction: claims up to `limit` rows and hands them, with the connection, to
    /// `body`, which publishes them and calls ``markSent(ids:on:logger:)`` / ``recordFailure(id:error:on:logger:)``
    /// on that connection. The transaction commits when `body` returns.
    ///
    /// - Important: If `body` throws, everything it marked is rolled back and the rows will be published again.
    ///   Record per-row outcomes instead of throwing after a partial publish. If a record fails, do not publish
    ///   later records of the same aggregate key from this batch (there are none: a batch holds one row per key).
    public func withClaimedBatch<Result>(
        limit: Int,
        client: PostgresClient,
        logger: Logger,
        isolation: isolated (any Actor)? = #isolation,
        _ body: ([OutboxRecord], PostgresConnection) async throws -> sending Result
    ) async throws -> sending Result {
        try await client.transaction(logger: logger, isolation: isolation) { connection in
            let records = try await self.claimBatch(limit: limit, on: connection, logger: logger)
            return try await body(records, connection)
        }
    }

    /// Listens on ``notificationChannel`` while `body` runs, on a connection leased from `client` for that time.
    ///
    /// Start listening before the first claim, then claim whenever a notification arrives or a fallback poll
    /// interval passes (notifications are a wake-up hint: they are lost while no connection listens). The sequence
    /// ends with an error if the connection drops; listen again after a backoff.
    public func withNotifications<Result: Sendable>(
        client: PostgresClient,
        logger: Logger,
        _ body: (PostgresNotificationSequence) async throws -> Result
    ) async throws -> Result {
        let channel = self.notificationChannel
        return try await client.withConnection { connection in
            try await connection.listen(on: channel) { notifications in
                try await body(notifications)
            }
        }
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

    /// Deletes rows sent before `date`.
    ///
    /// - Returns: How many rows were deleted.
    @discardableResult
    public func purge(sentBefore date: Date, on connection: PostgresConnection, logger: Logger) async throws -> Int {
        let rows = try await connection.query(
            "DELETE FROM \(unescaped: self.table) WHERE sent_at < \(date) RETURNING 1",
            logger: logger
        ).collect()
        return rows.count
    }
}
