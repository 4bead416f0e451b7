import ComplaintStore
import Logging
import PostgresNIO

/// A service's own schema, for work outside the pipeline (an HTTP action, a read): transactions with
/// the schema alone on the `search_path`, so the service's SQL names its tables plainly, and the
/// events a write returns land in the schema's outbox in the same transaction.
public struct StageStore: Sendable {
    public let client: PostgresClient
    public let schema: SchemaName
    public let logger: Logger
    private let outbox: Outbox
    /// `nil` when the client's connections already start with the schema on their `search_path`.
    private let transactionSchema: SchemaName?
    /// The server cancels a statement running longer; `nil`: no limit (background work).
    public private(set) var statementTimeout: Duration?

    /// - Parameter connectionsUseSchema: `client` was made with `searchPath: schema` (the runtime's own
    ///   pool): no `SET LOCAL` per transaction is needed.
    public init(client: PostgresClient, schema: SchemaName, connectionsUseSchema: Bool = false, logger: Logger) {
        self.client = client
        self.schema = schema
        self.logger = logger
        self.outbox = Outbox(schema: schema)
        self.transactionSchema = connectionsUseSchema ? nil : schema
    }

    /// This store, with the server cancelling any statement that runs longer than `limit` — for an HTTP
    /// request whose ``Access/DatabaseGuard`` answers 503 after the same time: a statement waiting for a
    /// lock then ends with the request instead of holding a connection and taking effect afterwards.
    public func boundingStatements(by limit: Duration) -> StageStore {
        var bounded = self
        bounded.statementTimeout = limit
        return bounded
    }

    /// Runs `body` in a transaction; the events it returns are written to the outbox before the commit.
    public func write<Result: Sendable>(
        _ body: @Sendable (PostgresConnection, Logger) async throws -> (Result, [OutgoingEvent])
    ) async throws -> Result {
        let outbox = self.outbox
        let logger = self.logger
        return try await client.transaction(schema: transactionSchema, statementTimeout: statementTimeout, logger: logger) { connection in
            let (result, events) = try await body(connection, logger)
            try await outbox.enqueue(events.map(\.row), on: connection, logger: logger)
            return result
        }
    }

    /// Runs `body` in a read-only transaction on one snapshot (repeatable read): a page assembled from
    /// several queries — a KPI report, a complaint with its timeline — adds up, whatever commits meanwhile.
    public func read<Result: Sendable>(_ body: @Sendable (PostgresConnection, Logger) async throws -> Result) async throws -> Result {
        let logger = self.logger
        return try await client.transaction(
            isolationLevel: .repeatableRead, readOnly: true, schema: transactionSchema, statementTimeout: statementTimeout, logger: logger
        ) { connection in
            try await body(connection, logger)
        }
    }
}
