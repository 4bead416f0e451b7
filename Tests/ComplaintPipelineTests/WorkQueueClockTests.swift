import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import Logging
import PostgresNIO
import RdKafkaTestKit
import Synchronization
import Testing

/// The worker computed "due" with its own clock while `claim` compares with the database's: with the
/// application's clock ahead, an intent looked due that the claim would not take, and an idle worker
/// ran a claim and a look-up every millisecond until the clocks' difference had passed.
@Suite("Work queue clocks", .timeLimit(.minutes(2)))
struct WorkQueueClockTests {
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
            try await ClockSkew.withClient(shadowingClockIn: schema) { skewed in
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

    /// Fails once (the receiver asks for 2 s), defers itself for 2 s, then to a time the database gives
    /// (its now plus 2 s, as the notifier's shared pacer does), then succeeds; notes when each call came.
    final class WaitingPerformer: WorkPerformer {
        let kinds = ["test-call"]
        let database: PostgresClient
        private let log = Mutex<[ContinuousClock.Instant]>([])
        var calls: [ContinuousClock.Instant] { log.withLock { $0 } }

        init(database: PostgresClient) {
            self.database = database
        }

        func perform(_ item: WorkItem, logger: Logger) async throws -> String {
            switch log.withLock({ $0.append(.now); return $0.count }) {
            case 1: throw WorkFailure.transient("receiver answered 503", retryAfter: .seconds(2))
            case 2: throw WorkDeferral(reason: "rate limited", after: .seconds(2))
            case 3:
                let place = try await database.query("SELECT clock_timestamp() + interval '2 seconds'", logger: logger).collect()[0].decode(Date.self)
                throw WorkDeferral(reason: "paced", until: place)
            default: return "delivered"
            }
        }
    }

    /// Retry and deferral times were stored as the application's clock gave them, while the claim compares
    /// them with the database's: with the application a minute ahead, a 2 s retry came after 62 s;
    /// a minute behind, at once. A deferral to a time the database gave must stay as given.
    @Test("a 2 s retry, a 2 s deferral and one to the database's now + 2 s each come 2 s later, the application's clock 60 s ahead or behind",
          arguments: [60, -60])
    func retryAndDeferralWaitOnTheDatabaseClock(applicationAheadBy seconds: Int) async throws {
        try await WorkQueueWorkerTests.withQueue { client, tables in
            let schema = tables.schema
            // The database's clock as the worker's connections read it: `seconds` behind the application's.
            try await ClockSkew.shadowClock(in: schema, applicationAheadBy: seconds, client: client)
            try await client.transaction(schema: schema, logger: .complaintTest) { connection in
                // Due on either clock.
                try await tables.workQueue.enqueue(
                    kind: "test-call", idempotencyKey: "notify-1", payload: WorkQueueWorkerTests.Payload(to: "ops@example.com"),
                    maximumAttempts: 5, dueAt: Date().addingTimeInterval(-300), on: connection, logger: .complaintTest)
            }
            let calls = try await ClockSkew.withClient(shadowingClockIn: schema) { skewed in
                let performer = WaitingPerformer(database: skewed)
                var configuration = WorkQueueWorker.Configuration()
                configuration.pollInterval = .milliseconds(200)
                // Settled on the connections' own search_path, where the skewed clock is.
                configuration.connectionsUseSchema = true
                let worker = WorkQueueWorker(
                    performer: performer, schema: schema, client: skewed, configuration: configuration, logger: .complaintTest)
                try await withRunningServices([worker]) {
                    // The old code: the retry came after 62 s (ahead), or within the poll interval (behind).
                    let done = await eventually(timeout: .seconds(40)) { performer.calls.count >= 4 }
                    #expect(done, "calls after \(performer.calls.map { $0 - performer.calls[0] })")
                }
                return performer.calls
            }
            try #require(calls.count >= 4)
            let gaps = zip(calls, calls.dropFirst()).map { $1 - $0 }
            for (name, gap) in zip(["retry", "deferral for 2 s", "deferral to the database's now + 2 s"], gaps) {
                #expect(gap >= .milliseconds(1900) && gap < .seconds(15), "the \(name) came after \(gap)")
            }
        }
    }
}
