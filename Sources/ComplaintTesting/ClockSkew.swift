import ComplaintStore
import Foundation
import Logging
import PostgresNIO

/// Tests of code that compares times with the database's clock while the application's clock differs
/// from it: a schema whose `clock_timestamp()` shadows PostgreSQL's, and a client whose connections
/// see it (WorkQueueClockTests, the notifier's deferral tests).
public enum ClockSkew {
    /// Makes `schema.clock_timestamp()` read the database's clock `seconds` behind the application's
    /// (negative: ahead), for the connections of ``withClient(shadowingClockIn:_:)``.
    public static func shadowClock(in schema: SchemaName, applicationAheadBy seconds: Int, client: PostgresClient) async throws {
        try await client.query(PostgresQuery(unsafeSQL: """
            CREATE FUNCTION \(schema).clock_timestamp() RETURNS timestamptz LANGUAGE sql VOLATILE
            AS $$ SELECT pg_catalog.clock_timestamp() - interval '\(seconds) seconds' $$
            """), logger: .complaintTest)
    }

    /// Runs `body` with a client whose connections see `schema.clock_timestamp()`, if the schema has
    /// one, in place of PostgreSQL's (the schema comes before `pg_catalog` on their `search_path`).
    public static func withClient<Result: Sendable>(
        shadowingClockIn schema: SchemaName, _ body: (PostgresClient) async throws -> Result
    ) async throws -> Result {
        var configuration = try await TestDatabase.shared.configuration().makeClientConfiguration()
        configuration.options.additionalStartupParameters.append(("search_path", "\(schema), pg_catalog"))
        let client = PostgresClient(configuration: configuration, backgroundLogger: .complaintTest)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }
}
