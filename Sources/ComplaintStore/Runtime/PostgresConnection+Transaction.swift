import Logging
import NIOCore
import PostgresNIO
import Synchronization

extension PostgresConnection {
    /// Runs `body` inside `BEGIN … COMMIT` on this connection, rolling back if `body` throws.
    ///
    /// Unlike PostgresNIO's `withTransaction`, this rethrows the body's own error unchanged (the rollback's outcome is
    /// logged at `debug`), so domain errors and ``PostgresErrorClassifier`` see the real cause, and it detects a
    /// `COMMIT` that the server turned into a rollback.
    ///
    /// - Parameters:
    ///   - isolationLevel: The isolation level; defaults to read committed.
    ///   - readOnly: Start a `READ ONLY` transaction.
    ///   - schema: Puts this schema alone on the transaction's `search_path` (`SET LOCAL`), so the body names a
    ///     service's tables plainly (`complaints`, not `intake.complaints`).
    ///   - statementTimeout: The server cancels any statement of the transaction that runs longer
    ///     (`SET LOCAL statement_timeout`), a wait for a lock included: a caller that stopped waiting does
    ///     not leave its statement holding a connection, or taking effect, long after.
    ///   - logger: Receives the statements' log output.
    ///   - body: The work to do. It must not commit, roll back or escape the connection.
    /// - Throws: The body's error; a `PSQLError` if `BEGIN` or `COMMIT` fails; a ``ComplaintStoreError`` with code
    ///   ``ComplaintStoreError/Code/transactionRolledBack`` if `COMMIT` rolled back.
    public func transaction<Result>(
        isolationLevel: TransactionIsolationLevel = .readCommitted,
        readOnly: Bool = false,
        schema: SchemaName? = nil,
        statementTimeout: Duration? = nil,
        logger: Logger,
        file: String = #fileID,
        line: Int = #line,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> sending Result
    ) async throws -> sending Result {
        var begin = "BEGIN ISOLATION LEVEL \(isolationLevel)"
        if readOnly {
            begin += " READ ONLY"
        }
        try await self.query(PostgresQuery(unsafeSQL: begin), logger: logger, file: file, line: line)

        let value: Result
        do {
            if let schema {
                // A validated identifier (SchemaName): safe to splice.
                try await self.query(PostgresQuery(unsafeSQL: "SET LOCAL search_path TO \(schema)"), logger: logger, file: file, line: line)
            }
            if let statementTimeout {
                let milliseconds = String(max(1, statementTimeout.milliseconds))
                try await self.query("SELECT set_config('statement_timeout', \(milliseconds), true)", logger: logger, file: file, line: line)
            }
            value = try await body(self)
        } catch {
            do {
                try await self.query("ROLLBACK", logger: logger, file: file, line: line)
            } catch let rollbackError {
                logger.debug(
                    "ROLLBACK failed after an error in the transaction",
                    metadata: ["error": "\(String(reflecting: rollbackError))"]
                )
            }
            throw error
        }

        let commit: EventLoopFuture<PostgresQueryResult> = self.query("COMMIT", logger: logger, file: file, line: line)
        let result = try await commit.get()
        guard result.metadata.command != "ROLLBACK" else {
            throw ComplaintStoreError.transactionRolledBack(
                "the transaction started at \(file):\(line) was rolled back on COMMIT because a statement in it failed")
        }
        return value
    }
}

extension PostgresClient {
    /// The longest a pipeline stage's connection may be leased for one piece of work (a transaction, a
    /// claim) before it is closed: `DATABASE_STATEMENT_BOUND_SECONDS`' default.
    public static let defaultStatementBound: Duration = .seconds(60)

    /// Leases a connection and runs `body` on it in the caller's task; if `body` has not returned after
    /// `bound`, the connection is closed, which fails the statement in flight with PostgresNIO's
    /// `clientClosedConnection` (transient to ``PostgresErrorClassifier``, so the work is retried on a new
    /// connection). A statement already sent to a host that vanished (no RST, every packet dropped, a
    /// failed-over primary's address gone dark) cannot be cancelled, and PostgresNIO 1.33 sets neither TCP
    /// keepalive nor `TCP_USER_TIMEOUT` on the pool's connections: without the bound it waits until the
    /// kernel gives up, about 15 minutes. The server rolls back a transaction whose connection is gone.
    ///
    /// A body that returns within the bound is untouched: its timer is disarmed before the connection goes
    /// back to the pool, so it never closes a connection leased by someone else later.
    ///
    /// - Parameters:
    ///   - bound: The longest `body` may take, its waits for locks and for the server included.
    ///   - logger: Told (at `warning`) when the bound closed a connection.
    public func withConnection<Result>(
        closingAfter bound: Duration,
        logger: Logger,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> sending Result
    ) async throws -> sending Result {
        try await self.withConnection(isolation: isolation) { connection in
            let timer = ConnectionBoundTimer(connection: connection, bound: bound, logger: logger)
            let value: Result
            do {
                value = try await body(connection)
            } catch {
                await timer.disarm()
                throw error
            }
            await timer.disarm()
            return value
        }
    }

    /// Leases a connection and runs `body` in a transaction on it; see
    /// ``PostgresNIO/PostgresConnection/transaction(isolationLevel:readOnly:schema:statementTimeout:logger:file:line:isolation:_:)``.
    ///
    /// Prefer this to PostgresNIO's `withTransaction`, which wraps every error in a `PostgresTransactionError`.
    ///
    /// - Parameter bound: If set, the connection is closed when the transaction (`BEGIN` to `COMMIT`) has
    ///   not ended after it, failing it at once; see ``withConnection(closingAfter:logger:isolation:_:)``.
    public func transaction<Result>(
        isolationLevel: TransactionIsolationLevel = .readCommitted,
        readOnly: Bool = false,
        schema: SchemaName? = nil,
        statementTimeout: Duration? = nil,
        closingAfter bound: Duration? = nil,
        logger: Logger,
        file: String = #fileID,
        line: Int = #line,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> sending Result
    ) async throws -> sending Result {
        guard let bound else {
            return try await self.withConnection(isolation: isolation) { connection in
                try await connection.transaction(
                    isolationLevel: isolationLevel, readOnly: readOnly, schema: schema, statementTimeout: statementTimeout,
                    logger: logger, file: file, line: line, isolation: isolation, body)
            }
        }
        return try await self.withConnection(closingAfter: bound, logger: logger, isolation: isolation) { connection in
            try await connection.transaction(
                isolationLevel: isolationLevel, readOnly: readOnly, schema: schema, statementTimeout: statementTimeout,
                logger: logger, file: file, line: line, isolation: isolation, body)
        }
    }
}

/// Closes a leased connection once its bound has passed, unless disarmed first: the timer of
/// ``PostgresNIO/PostgresClient/withConnection(closingAfter:logger:isolation:_:)``.
private final class ConnectionBoundTimer: Sendable {
    private enum State { case armed, disarmed, fired }
    private let state = Mutex(State.armed)
    private let task = Mutex<Task<Void, Never>?>(nil)

    init(connection: PostgresConnection, bound: Duration, logger: Logger) {
        let task = Task.detached { [self] in
            do { try await Task.sleep(for: bound) } catch { return }
            let fires = self.state.withLock { state in
                guard state == .armed else { return false }
                state = .fired
                return true
            }
            guard fires else { return }
            logger.warning("closing a database connection whose work passed its bound; the work fails and is retried", metadata: [
                "bound": "\(bound)",
            ])
            try? await connection.close()
        }
        self.task.withLock { $0 = task }
    }

    /// Stops the timer; if it fired already, waits until the connection is closed, so that the pool
    /// never takes it back open.
    func disarm() async {
        state.withLock { if $0 == .armed { $0 = .disarmed } }
        guard let task = self.task.withLock({ $0 }) else { return }
        task.cancel()
        await task.value
    }
}
