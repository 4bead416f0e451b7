import Logging
import NIOCore
import PostgresNIO

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
                isolationLevel: isolationLevel,
                readOnly: readOnly,
                schema: schema,
                statementTimeout: statementTimeout,
                logger: logger,
                file: file,
                line: line,
                isolation: isolation,
                body
            )
        }
    }
}
