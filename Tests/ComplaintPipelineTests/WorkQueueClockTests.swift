import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import Logging
import PostgresNIO
import RdKafkaTestKit
import Testing

/// The worker computed "due" with its own clock while `claim` compares with the database's: with the
/// application's clock ahead, an intent looked due that the claim would not take, and an idle worker
/// ran a claim and a look-up every millisecond until the clocks' difference had passed.
@Suite("Work queue clocks", .timeLimit(.minutes(2)))
struct WorkQueueClockTests {
    /// Runs `body` with a client whose connections see `schema.clock_timestamp()`, if the schema has
    /// one, in place of PostgreSQL's (the schema comes before `pg_catalog` on their `search_path`).
    static func withClient<Result: Sendable>(
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

    @Test("a worker whose clock runs 2 s ahead of the database's waits for the intent, instead of claiming every millisecond")
    func applicationClockAhead() async throws {
        try await WorkQueueWorkerTests.withQueue { client, tables in
            let schema = tables.schema
            // The database's clock as the worker's connections read it: 2 s behind, each reading counted.
            try await client.query(PostgresQuery(unsafeSQL: "CREATE SEQUENCE \(schema).clock_readings"), logger: .complaintTest)
            try await client.query(PostgresQuery(unsafeSQL: """
                CREATE FUNCTION \(schema).clock_timestamp() RETURNS timestamptz LANGUAGE plpgsql VOLATILE AS $$
                BEGIN
                    PERFORM nextval('\(schema).clock_readings');
                    RETURN pg_catalog.clock_timestamp() - interval '2 seconds';
                END $$
                """), logger: .complaintTest)
            try await Self.withClient(shadowingClockIn: schema) { skewed in
                let performer = RecordingPerformer()
                var configuration = WorkQueueWorker.Configuration()
                configuration.pollInterval = .milliseconds(500)
                let worker = WorkQueueWorker(
                    performer: performer, schema: schema, client: skewed, configuration: configuration, logger: .complaintTest)
                try await withRunningServices([worker]) {
                    // Due now by the application's clock (and the server's real one), in 2 s by the worker's database clock.
                    try await WorkQueueWorkerTests.enqueue(["notify-1"], tables: tables, client: client)
                    #expect(await eventually(timeout: .seconds(30)) { performer.calls == ["notify-1"] })
                }
            }
            let readings = try await client.query(
                PostgresQuery(unsafeSQL: "SELECT last_value FROM \(schema).clock_readings"), logger: .complaintTest
            ).collect()[0].decode(Int.self)
            // About 2 per wake-up: at most a few wake-ups per poll interval over 2 s. A 1 ms loop read it hundreds of times.
            #expect(readings < 60, "the worker read the database's clock \(readings) times while the intent was 2 s away")
        }
    }
}
