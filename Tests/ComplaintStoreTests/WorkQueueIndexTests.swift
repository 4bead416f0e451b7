import ComplaintStore
import ComplaintTesting
import Foundation
import Logging
import PostgresNIO
import Testing

/// The work queue's only index ordered every pending intent by due time, whatever its kind: a kind's
/// claim walked past another kind's backlog, and a worker's look-up of its next due time read every
/// pending row of its kinds, deferred ones included, on each idle wait.
@Suite("Work queue by kind", .timeLimit(.minutes(2)))
struct WorkQueueIndexTests {
    struct Payload: Codable, Sendable { var to = "ops@example.com" }

    /// `count` intents of `kind`, due `offset` from now, straight into the table.
    static func insert(_ count: Int, kind: String, dueIn offset: String, tables: RuntimeTables, client: PostgresClient) async throws {
        try await client.query(PostgresQuery(unsafeSQL: """
            INSERT INTO \(tables.schema).work_queue (kind, idempotency_key, payload, max_attempts, due_at)
            SELECT '\(kind)', '\(kind)-' || gen_random_uuid(), '{}', 5, clock_timestamp() + interval '\(offset)' FROM generate_series(1, \(count))
            """), logger: .test)
    }

    /// Runs `body` in a transaction on one connection and returns its result with the rows of the work
    /// queue that it read (`pg_stat_xact_user_tables`: sequential and index fetches).
    static func rowsRead<Result: Sendable>(
        tables: RuntimeTables, client: PostgresClient, _ body: @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> (Result, Int) {
        try await client.withConnection { connection in
            try await connection.query("BEGIN", logger: .test)
            let query = PostgresQuery(unsafeSQL: """
                SELECT (coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0))::int FROM pg_stat_xact_user_tables
                WHERE schemaname = '\(tables.schema)' AND relname = 'work_queue'
                """)
            let before = try await connection.query(query, logger: .test).collect()[0].decode(Int.self)
            let result = try await body(connection)
            let after = try await connection.query(query, logger: .test).collect()[0].decode(Int.self)
            try await connection.query("COMMIT", logger: .test)
            return (result, after - before)
        }
    }

    @Test("the next due time of a kind counts its deferred and leased intents, not another kind's, and reads only a few rows")
    func nextDue() async throws {
        try await withRuntimeTables { client, tables in
            let queue = tables.workQueue
            // 'endpoint': a receiver down, 3000 due now. 'guest': 3000 deferred by an hour (quiet hours)
            // and one due in 30 s; one of its intents is being performed, its lease running out in 10 s.
            try await Self.insert(3000, kind: "endpoint", dueIn: "-1 minute", tables: tables, client: client)
            try await Self.insert(3000, kind: "guest", dueIn: "1 hour", tables: tables, client: client)
            try await Self.insert(1, kind: "guest", dueIn: "30 seconds", tables: tables, client: client)
            try await Self.insert(1, kind: "guest", dueIn: "-5 seconds", tables: tables, client: client)
            try await client.query(PostgresQuery(unsafeSQL: "ANALYZE \(tables.schema).work_queue"), logger: .test)
            let claimed = try await client.withConnection { try await queue.claim(kinds: ["guest"], limit: 8, lease: .seconds(10), on: $0, logger: .test) }
            #expect(claimed.count == 1 && claimed[0].kind == "guest")

            let (wait, read) = try await Self.rowsRead(tables: tables, client: client) {
                try await queue.timeUntilNextDue(kinds: ["guest"], on: $0, logger: .test)
            }
            // The lease (10 s) before the next unleased intent (30 s); the endpoint backlog (due) ignored.
            let seconds = Double(try #require(wait).milliseconds) / 1000
            #expect(seconds > 5 && seconds <= 10, "\(seconds) s")
            #expect(read < 50, "read \(read) rows to find one due time")

            let (both, _) = try await Self.rowsRead(tables: tables, client: client) {
                try await queue.timeUntilNextDue(kinds: ["guest", "endpoint"], on: $0, logger: .test)
            }
            #expect(try #require(both) <= .zero, "the endpoint intents are due")
            let (none, _) = try await Self.rowsRead(tables: tables, client: client) {
                try await queue.timeUntilNextDue(kinds: ["staff"], on: $0, logger: .test)
            }
            #expect(none == nil)
        }
    }

    @Test("a kind's claim takes its own due intents, oldest first, without reading another kind's backlog")
    func claimByKind() async throws {
        try await withRuntimeTables { client, tables in
            let queue = tables.workQueue
            try await Self.insert(3000, kind: "endpoint", dueIn: "-1 hour", tables: tables, client: client)
            try await Self.insert(2, kind: "guest", dueIn: "-1 minute", tables: tables, client: client)
            try await Self.insert(1, kind: "guest", dueIn: "-2 minutes", tables: tables, client: client)
            try await Self.insert(3000, kind: "guest", dueIn: "1 hour", tables: tables, client: client)
            try await client.query(PostgresQuery(unsafeSQL: "ANALYZE \(tables.schema).work_queue"), logger: .test)
            let (claimed, read) = try await Self.rowsRead(tables: tables, client: client) {
                try await queue.claim(kinds: ["guest"], limit: 8, lease: .seconds(30), on: $0, logger: .test)
            }
            #expect(claimed.count == 3 && claimed.allSatisfy { $0.kind == "guest" })
            #expect(read < 50, "read \(read) rows to claim 3")
            // Several kinds: the oldest due of either, up to the limit.
            let mixed = try await client.withConnection {
                try await queue.claim(kinds: ["guest", "endpoint"], limit: 5, lease: .seconds(30), on: $0, logger: .test)
            }
            #expect(mixed.count == 5 && mixed.allSatisfy { $0.kind == "endpoint" })
        }
    }
}
