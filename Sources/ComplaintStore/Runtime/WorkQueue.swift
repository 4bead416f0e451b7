import Foundation
import Logging
import NIOCore
import PostgresNIO

/// The work queue of one service schema: intents to call the outside world, recorded in the transaction that
/// decided them and performed afterwards by a worker, outside any transaction.
///
/// **Recording.** A handler calls ``enqueue(kind:idempotencyKey:payload:maximumAttempts:dueAt:on:logger:)`` on its
/// transaction's connection: the intent commits or vanishes with the handler's effect, and an intent with an
/// idempotency key already recorded is ignored (a redelivered event cannot ask twice). The insert notifies
/// `<schema>_work` on commit, so a listening worker starts at once.
///
/// **Performing.** A worker claims due rows with ``claim(kinds:limit:lease:on:logger:)`` — one statement, `FOR
/// UPDATE SKIP LOCKED`, leasing them for a while and counting the attempt — makes each call with the item's
/// idempotency key, and records the outcome with ``complete(_:outcome:on:logger:)``, ``retry(_:error:after:on:logger:)``
/// or ``fail(_:error:on:logger:)`` — or, when the performer chose not to call yet, defers it with
/// ``postpone(_:reason:until:on:logger:)``, handing the attempt back. A worker that dies mid-call leaves a lease that
/// runs out; the item is then claimed again and the call repeated with the same key.
public struct WorkQueue: Sendable {
    /// The schema holding the `work_queue` table.
    public let schema: SchemaName

    /// Addresses `<schema>.work_queue`, created by ``RuntimeTables/migrations()``.
    public init(schema: SchemaName) {
        self.schema = schema
    }

    private var table: String { "\(self.schema).work_queue" }

    /// The `LISTEN` channel notified when intents are recorded: `<schema>_work`.
    public var notificationChannel: String { "\(self.schema)_work" }

    // MARK: Recording

    /// Records an intent on `connection`, inside the caller's transaction.
    ///
    /// - Parameters:
    ///   - kind: Which performer handles it.
    ///   - idempotencyKey: Derived from what the intent is for (an event id and a recipient, say), never random:
    ///     recording the same key again does nothing.
    ///   - payload: What the performer needs, as JSON.
    ///   - maximumAttempts: Calls allowed before giving up (at least 1).
    ///   - dueAt: When to perform it; `nil` for now.
    /// - Returns: `true` if the intent is new, `false` if the key was recorded before.
    @discardableResult
    public func enqueue(
        kind: String,
        idempotencyKey: String,
        payload: some Encodable,
        maximumAttempts: Int,
        dueAt: Date? = nil,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> Bool {
        precondition(maximumAttempts >= 1, "maximumAttempts must be at least 1")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        let json = String(decoding: try encoder.encode(payload), as: UTF8.self)
        let rows = try await connection.query(
            """
            WITH inserted AS (
                INSERT INTO \(unescaped: self.table) (kind, idempotency_key, payload, max_attempts, due_at)
                VALUES (\(kind), \(idempotencyKey), \(json)::jsonb, \(maximumAttempts), COALESCE(\(dueAt), now()))
                ON CONFLICT (idempotency_key) DO NOTHING
                RETURNING id
            )
            SELECT inserted.id FROM inserted CROSS JOIN (SELECT pg_notify(\(self.notificationChannel), '')) AS notified
            """,
            logger: logger
        ).collect()
        return !rows.isEmpty
    }

    // MARK: Performing

    /// Claims up to `limit` due pending intents of `kinds`, oldest first, leasing them for `lease` and counting
    /// the attempt, in one statement that commits at once.
    ///
    /// Each kind is read on its own from `work_queue_kind_due_idx` (kind, due_at, id), up to its due rows
    /// only (the clock is read once, so the index bounds the range): another kind's backlog is never walked.
    /// The status is written out, not bound, so that the partial index matches at planning.
    public func claim(kinds: [String], limit: Int, lease: Duration, on connection: PostgresConnection, logger: Logger) async throws -> [WorkItem] {
        precondition(limit > 0, "limit must be positive")
        let token = UUID()
        let seconds = Double(lease.milliseconds) / 1000
        let rows = try await connection.query(
            """
            WITH due AS (
                SELECT candidate.id FROM unnest(\(kinds)::text[]) AS wanted(kind)
                CROSS JOIN LATERAL (
                    SELECT id, due_at FROM \(unescaped: self.table)
                    WHERE status = 'pending' AND kind = wanted.kind AND due_at <= (SELECT clock_timestamp())
                      AND (leased_until IS NULL OR leased_until < clock_timestamp())
                    ORDER BY due_at, id
                    LIMIT \(limit)
                    FOR UPDATE SKIP LOCKED
                ) AS candidate
                ORDER BY candidate.due_at, candidate.id
                LIMIT \(limit)
            )
            UPDATE \(unescaped: self.table) AS w
            SET leased_until = clock_timestamp() + make_interval(secs => \(seconds)), lease_token = \(token), attempts = w.attempts + 1
            FROM due WHERE w.id = due.id
            RETURNING w.id, w.kind, w.idempotency_key, w.payload::text, w.attempts, w.max_attempts, w.created_at
            """,
            logger: logger
        )
        var items: [WorkItem] = []
        for try await (id, kind, key, payload, attempt, maximumAttempts, createdAt) in rows.decode(
            (Int64, String, String, String, Int, Int, Date).self
        ) {
            items.append(WorkItem(
                id: id, kind: kind, idempotencyKey: key, payload: Array(payload.utf8), attempt: attempt,
                maximumAttempts: maximumAttempts, createdAt: createdAt, leaseToken: token))
        }
        return items.sorted { $0.id < $1.id }
    }

    /// Records that the call succeeded, if `item`'s lease still holds (else another worker owns the row now).
    /// - Returns: Whether the row changed.
    @discardableResult
    public func complete(_ item: WorkItem, outcome: String, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        try await finish(item, status: .succeeded, outcome: String(outcome.prefix(2000)), error: nil, on: connection, logger: logger)
    }

    /// Gives the intent up with `error` (a permanent failure, or the last attempt failed).
    @discardableResult
    public func fail(_ item: WorkItem, error: String, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        try await finish(item, status: .failed, outcome: nil, error: String(error.prefix(2000)), on: connection, logger: logger)
    }

    private func finish(
        _ item: WorkItem, status: WorkStatus, outcome: String?, error: String?, on connection: PostgresConnection, logger: Logger
    ) async throws -> Bool {
        let rows = try await connection.query(
            """
            UPDATE \(unescaped: self.table)
            SET status = \(status.rawValue), outcome = \(outcome), last_error = COALESCE(\(error), last_error),
                completed_at = now(), leased_until = NULL, lease_token = NULL
            WHERE id = \(item.id) AND lease_token = \(item.leaseToken) AND status = \(WorkStatus.pending.rawValue)
            RETURNING id
            """,
            logger: logger
        ).collect()
        return !rows.isEmpty
    }

    /// Schedules another attempt `wait` from now on the database's clock after a transient failure,
    /// releasing the lease.
    ///
    /// Counted on the database's clock, the one ``claim(kinds:limit:lease:on:logger:)`` compares due
    /// times with: a retry time taken from the application's clock (its now plus the backoff) came late
    /// by the clocks' difference with the application ahead — a 2 s retry after 62 s — and at once with
    /// it behind.
    @discardableResult
    public func retry(_ item: WorkItem, error: String, after wait: Duration, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        try await reschedule(item, reason: error, due: .after(wait), handingBackTheAttempt: false, on: connection, logger: logger)
    }

    /// Schedules another attempt at `date`, a time on the database's clock, releasing the lease; a wait
    /// counted from now is ``retry(_:error:after:on:logger:)``.
    @discardableResult
    public func retry(_ item: WorkItem, error: String, at date: Date, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        try await reschedule(item, reason: error, due: .at(date), handingBackTheAttempt: false, on: connection, logger: logger)
    }

    /// Defers the intent to `date` without counting the attempt it was claimed with (the performer chose
    /// not to call now: quiet hours, a rate limit), releasing the lease.
    ///
    /// `date` is compared with the database's clock as it is (a time the database gave, a time of day); a
    /// wait counted from now is ``postpone(_:reason:for:on:logger:)``.
    @discardableResult
    public func postpone(_ item: WorkItem, reason: String, until date: Date, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        try await reschedule(item, reason: reason, due: .at(date), handingBackTheAttempt: true, on: connection, logger: logger)
    }

    /// Defers the intent for `wait` on the database's clock (a receiver's "again in 60 s"), like
    /// ``postpone(_:reason:until:on:logger:)`` otherwise.
    @discardableResult
    public func postpone(_ item: WorkItem, reason: String, for wait: Duration, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        try await reschedule(item, reason: reason, due: .after(wait), handingBackTheAttempt: true, on: connection, logger: logger)
    }

    /// When a rescheduled intent falls due.
    private enum Due {
        /// At this time on the database's clock.
        case at(Date)
        /// This long from now on the database's clock.
        case after(Duration)
    }

    private func reschedule(
        _ item: WorkItem, reason: String, due: Due, handingBackTheAttempt: Bool, on connection: PostgresConnection, logger: Logger
    ) async throws -> Bool {
        let text = String(reason.prefix(2000))
        let handedBack = handingBackTheAttempt ? 1 : 0
        let query: PostgresQuery
        switch due {
        case .at(let date):
            query = """
                UPDATE \(unescaped: self.table)
                SET last_error = \(text), due_at = \(date), attempts = GREATEST(attempts - \(handedBack), 0), leased_until = NULL, lease_token = NULL
                WHERE id = \(item.id) AND lease_token = \(item.leaseToken) AND status = \(WorkStatus.pending.rawValue)
                RETURNING id
                """
        case .after(let wait):
            query = """
                UPDATE \(unescaped: self.table)
                SET last_error = \(text), due_at = clock_timestamp() + make_interval(secs => \(Double(wait.milliseconds) / 1000)),
                    attempts = GREATEST(attempts - \(handedBack), 0), leased_until = NULL, lease_token = NULL
                WHERE id = \(item.id) AND lease_token = \(item.leaseToken) AND status = \(WorkStatus.pending.rawValue)
                RETURNING id
                """
        }
        let rows = try await connection.query(query, logger: logger).collect()
        return !rows.isEmpty
    }

    /// How long until the next pending intent of `kinds` falls due (or its lease runs out), if any:
    /// how long a worker may sleep. Measured on the database's clock, the one ``claim(kinds:limit:lease:on:logger:)``
    /// compares with: a worker whose own clock ran ahead found an intent due that the claim did not, and
    /// polled in a tight loop until the clocks' difference had passed. Zero or less: one is due now.
    public func timeUntilNextDue(kinds: [String], on connection: PostgresConnection, logger: Logger) async throws -> Duration? {
        // Per kind, two reads of an index each: the first unleased intent in due order, and when the
        // leases of the intents being performed now run out (a row is due again at the later of the two).
        // The status is written out, not bound: the partial indexes must match at planning.
        let rows = try await connection.query(
            """
            SELECT EXTRACT(EPOCH FROM min(next.at) - clock_timestamp())::float8
            FROM unnest(\(kinds)::text[]) AS wanted(kind)
            CROSS JOIN LATERAL (
                (SELECT due_at AS at FROM \(unescaped: self.table)
                 WHERE status = 'pending' AND kind = wanted.kind AND leased_until IS NULL
                 ORDER BY due_at LIMIT 1)
                UNION ALL
                (SELECT min(GREATEST(due_at, leased_until)) FROM \(unescaped: self.table)
                 WHERE status = 'pending' AND kind = wanted.kind AND leased_until IS NOT NULL)
            ) AS next
            """,
            logger: logger
        ).collect()
        guard let seconds = try rows.first?.decode(Double?.self) else { return nil }
        return .milliseconds(Int64((seconds * 1000).rounded(.up)))
    }

    // MARK: Monitoring and retention

    /// How many intents are in each status.
    public func counts(on connection: PostgresConnection, logger: Logger) async throws -> [WorkStatus: Int] {
        let rows = try await connection.query(
            "SELECT status, count(*)::int FROM \(unescaped: self.table) GROUP BY status", logger: logger)
        var counts: [WorkStatus: Int] = [:]
        for try await (status, count) in rows.decode((String, Int).self) {
            if let status = WorkStatus(rawValue: status) { counts[status] = count }
        }
        return counts
    }

    /// Deletes up to `limit` finished intents completed before `date`.
    /// - Returns: How many were deleted; fewer than `limit` means none is left.
    @discardableResult
    public func purge(completedBefore date: Date, limit: Int = 1000, on connection: PostgresConnection, logger: Logger) async throws -> Int {
        let rows = try await connection.query(
            """
            DELETE FROM \(unescaped: self.table) WHERE id IN (
                SELECT id FROM \(unescaped: self.table)
                WHERE status <> \(WorkStatus.pending.rawValue) AND completed_at < \(date)
                ORDER BY completed_at LIMIT \(limit))
            RETURNING 1
            """,
            logger: logger
        ).collect()
        return rows.count
    }
}
