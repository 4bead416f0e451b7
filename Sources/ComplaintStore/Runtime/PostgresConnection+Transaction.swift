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
        try await self.statementUnlessClosed(PostgresQuery(unsafeSQL: begin), logger: logger, file: file, line: line)

        let value: Result
        do {
            if let schema {
                // A validated identifier (SchemaName): safe to splice.
                try await self.statementUnlessClosed(PostgresQuery(unsafeSQL: "SET LOCAL search_path TO \(schema)"), logger: logger, file: file, line: line)
            }
            if let statementTimeout {
                let milliseconds = String(max(1, statementTimeout.milliseconds))
                try await self.statementUnlessClosed(
                    "SELECT set_config('statement_timeout', \(milliseconds), true)", logger: logger, file: file, line: line)
            }
            value = try await body(self)
        } catch {
            do {
                try await self.statementUnlessClosed("ROLLBACK", logger: logger, file: file, line: line)
            } catch let rollbackError {
                logger.debug(
                    "ROLLBACK failed after an error in the transaction",
                    metadata: ["error": "\(String(reflecting: rollbackError))"]
                )
            }
            throw error
        }

        let result = try await self.statementUnlessClosed("COMMIT", logger: logger, file: file, line: line)
        guard result.metadata.command != "ROLLBACK" else {
            throw ComplaintStoreError.transactionRolledBack(
                "the transaction started at \(file):\(line) was rolled back on COMMIT because a statement in it failed")
        }
        return value
    }
}

extension PostgresConnection {
    /// Runs `query` and collects its result, or fails with NIO's `ChannelError.ioOnClosedChannel`
    /// (transient to ``PostgresErrorClassifier``) if the connection is closed.
    ///
    /// PostgresNIO 1.33.2 writes a statement into the channel without a write promise: one written once a
    /// closed channel's handlers are gone (they are removed a loop tick after the close) is dropped, and its
    /// result never comes nor fails, a wait no cancellation ends. A transaction's own statements can come
    /// after such a close: the `ROLLBACK` after a statement failed because the connection closed under it
    /// (by ``PostgresNIO/PostgresClient/withConnection(closingAfter:logger:isolation:_:)``'s bound, the
    /// pool, or the network), the `COMMIT` after a body that was between statements then.
    ///
    /// The check and the write happen in one tick on the channel's event loop: there, the channel turns
    /// inactive in the tick that closes it, and its handlers are removed only in a later one, so a
    /// statement written while it is active reaches PostgresNIO's handler, which fails it when the
    /// connection is closing or closes. No callback is left on the connection (one per statement on its
    /// `closeFuture` kept every statement's result until the connection closed).
    @discardableResult
    func statementUnlessClosed(
        _ query: PostgresQuery, logger: Logger, file: String = #fileID, line: Int = #line
    ) async throws -> PostgresQueryResult {
        let eventLoop = self.eventLoop
        return try await eventLoop.flatSubmit { [self] in
            self.isClosed
                ? eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel)
                : self.query(query, logger: logger, file: file, line: line)
        }.get()
    }
}

extension PostgresClient {
    /// The longest a pipeline stage's connection may be leased for one piece of work (a transaction, a
    /// claim) before it is closed: `DATABASE_STATEMENT_BOUND_SECONDS`' default.
    public static let defaultStatementBound: Duration = .seconds(60)

    /// How long work whose connection its bound closed may take to end before it is given up on.
    static let graceAfterBoundClose: Duration = .seconds(2)

    /// Leases a connection and runs `body` on it; if `body` has not returned after `bound`, the connection
    /// is closed, which fails the statement in flight with PostgresNIO's `clientClosedConnection`
    /// (transient to ``PostgresErrorClassifier``, so the work is retried on a new connection). A statement
    /// already sent to a host that vanished (no RST, every packet dropped, a failed-over primary's address
    /// gone dark) cannot be cancelled, and PostgresNIO 1.33 sets neither TCP keepalive nor `TCP_USER_TIMEOUT`
    /// on the pool's connections: without the bound it waits until the kernel gives up, about 15 minutes.
    /// The server rolls back a transaction whose connection is gone.
    ///
    /// A body that returns within the bound is untouched: its timer is disarmed before the connection goes
    /// back to the pool, so it never closes a connection leased by someone else later.
    ///
    /// `body` runs in a task of its own (cancelled with the caller's): PostgresNIO 1.33.2 drops a statement
    /// written to a closed connection once its channel is torn down, and never answers it, a wait no
    /// cancellation ends. A body that sent one after the close (between the statements of a batch, say) is
    /// given up on ``graceAfterBoundClose`` after the close: this fails with `ChannelError.ioOnClosedChannel`
    /// (transient), logged at `error`, and the body's task is left waiting. The transaction's own statements
    /// give up when the connection is closed
    /// (``PostgresNIO/PostgresConnection/transaction(isolationLevel:readOnly:schema:statementTimeout:logger:file:line:isolation:_:)``).
    /// When the leased connection closed (by the bound, the server or the network), a lease waiting for a
    /// connection of the full pool gets a new one (``askForConnection()``).
    ///
    /// - Parameters:
    ///   - bound: The longest `body` may take, its waits for locks and for the server included.
    ///   - logger: Told (at `warning`) when the bound closed a connection.
    public func withConnection<Result: Sendable>(
        closingAfter bound: Duration,
        logger: Logger,
        isolation: isolated (any Actor)? = #isolation,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await self.withConnection(isolation: isolation) { connection in
            let outcome = connection.eventLoop.makePromise(of: Result.self)
            let timer = ConnectionBoundTimer(connection: connection, bound: bound, logger: logger) {
                // Ignored if the work ended first.
                outcome.fail(ChannelError.ioOnClosedChannel)
            }
            let work = Task {
                do { outcome.succeed(try await body(connection)) } catch { outcome.fail(error) }
            }
            let ended: Swift.Result<Result, any Error>
            do {
                ended = .success(try await withTaskCancellationHandler {
                    try await outcome.futureResult.get()
                } onCancel: {
                    work.cancel()
                })
            } catch {
                ended = .failure(error)
            }
            if await timer.disarm() || connection.isClosed { self.askForConnection() }
            return try ended.get()
        }
    }

    /// Asks the pool for a connection, in the background, and hands it straight back.
    ///
    /// PostgresNIO's pool (1.33.2) does not replace a leased connection that closes (it opens one only
    /// below `minimumConnections`): leases queued for a connection while the pool was full stay queued
    /// until another lease is asked for, which may never come in a quiet stage. Asked for after the
    /// pool saw the close, this lease has the pool open a connection, which serves the queue in order.
    private func askForConnection() {
        Task { _ = try? await self.withConnection { _ in } }
    }

    /// Leases a connection and runs `body` in a transaction on it; see
    /// ``PostgresNIO/PostgresConnection/transaction(isolationLevel:readOnly:schema:statementTimeout:logger:file:line:isolation:_:)``.
    ///
    /// Prefer this to PostgresNIO's `withTransaction`, which wraps every error in a `PostgresTransactionError`.
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
        try await self.withConnection(isolation: isolation) { connection in
            try await connection.transaction(
                isolationLevel: isolationLevel, readOnly: readOnly, schema: schema, statementTimeout: statementTimeout,
                logger: logger, file: file, line: line, isolation: isolation, body)
        }
    }

    /// Leases a connection and runs `body` in a transaction on it, closing the connection when the
    /// transaction (`BEGIN` to `COMMIT`) has not ended after `bound`, failing it at once; see
    /// ``withConnection(closingAfter:logger:isolation:_:)`` and
    /// ``PostgresNIO/PostgresConnection/transaction(isolationLevel:readOnly:schema:statementTimeout:logger:file:line:isolation:_:)``.
    public func transaction<Result: Sendable>(
        isolationLevel: TransactionIsolationLevel = .readCommitted,
        readOnly: Bool = false,
        schema: SchemaName? = nil,
        statementTimeout: Duration? = nil,
        closingAfter bound: Duration,
        logger: Logger,
        file: String = #fileID,
        line: Int = #line,
        isolation: isolated (any Actor)? = #isolation,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await self.withConnection(closingAfter: bound, logger: logger, isolation: isolation) { connection in
            try await connection.transaction(
                isolationLevel: isolationLevel, readOnly: readOnly, schema: schema, statementTimeout: statementTimeout,
                logger: logger, file: file, line: line) { try await body($0) }
        }
    }
}

/// Closes a leased connection once its bound has passed, unless disarmed first, and gives up on its work
/// a grace after: the timer of ``PostgresNIO/PostgresClient/withConnection(closingAfter:logger:isolation:_:)``.
private final class ConnectionBoundTimer: Sendable {
    private enum State { case armed, disarmed, fired }
    private let state = Mutex(State.armed)
    private let task = Mutex<Task<Void, Never>?>(nil)

    /// - Parameter giveUp: Called when the work has not ended ``PostgresClient/graceAfterBoundClose`` after the close.
    init(connection: PostgresConnection, bound: Duration, logger: Logger, giveUp: @escaping @Sendable () -> Void) {
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
            // Disarmed once the work has ended, which the statement in flight failing lets it do at once. A
            // statement the body sent after the close is never answered (see `statementUnlessClosed`).
            guard (try? await Task.sleep(for: PostgresClient.graceAfterBoundClose)) != nil else { return }
            logger.error("giving up on work whose connection its bound closed: a statement it sent after the close is never answered; its task is left waiting", metadata: [
                "bound": "\(bound)", "since_close": "\(PostgresClient.graceAfterBoundClose)",
            ])
            giveUp()
        }
        self.task.withLock { $0 = task }
    }

    /// Stops the timer; if it fired already, waits until the connection is closed, so that the pool
    /// never takes it back open. Whether it had fired: the bound closed the connection.
    func disarm() async -> Bool {
        let fired = state.withLock { state in
            if state == .armed { state = .disarmed }
            return state == .fired
        }
        guard let task = self.task.withLock({ $0 }) else { return fired }
        task.cancel()
        // Not fired: it never closes the connection now, and cancelled it ends by itself.
        if fired { await task.value }
        return fired
    }
}
