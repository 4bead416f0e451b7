import ComplaintStore
import ComplaintTesting
import Foundation
import Logging
import PostgresNIO
import Testing

/// A statement sent to a host that vanished (no RST, packets dropped) waited until the kernel gave
/// up, ~15 min, stalling a stage's inbox, relay or work queue: PostgresNIO sets no TCP keepalive on the
/// pool's connections. `PostgresClient.withConnection(closingAfter:)` closes the leased connection
/// once its work passes the bound, failing the work (retried) at once.
@Suite("Statement bound", .timeLimit(.minutes(2)))
struct StatementBoundTests {
    /// Runs `body` with a client of one connection reaching the test database through `proxy`, and a
    /// fresh schema holding `applied (id int)`, dropped afterwards.
    static func withProxiedClient(
        _ body: (PostgresClient, StallingProxy, SchemaName) async throws -> Void
    ) async throws {
        let database = try await TestDatabase.shared.configuration()
        let schema = SchemaName.random(prefix: "bound")
        let proxy = try StallingProxy(to: database.endpoint)
        defer { proxy.stop() }
        var configuration = proxy.configuration(from: database).makeClientConfiguration()
        configuration.options.minimumConnections = 0
        configuration.options.maximumConnections = 1
        let client = PostgresClient(configuration: configuration, backgroundLogger: .complaintTest)
        try await withTestClient { direct in
            do {
                try await direct.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA \(schema)"), logger: .complaintTest)
                try await direct.query(PostgresQuery(unsafeSQL: "CREATE TABLE \(schema).applied (id int NOT NULL)"), logger: .complaintTest)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { await client.run() }
                    defer { group.cancelAll() }
                    try await body(client, proxy, schema)
                }
            } catch {
                proxy.stop()
                try? await dropSchema(schema, client: direct)
                throw error
            }
            try await dropSchema(schema, client: direct)
        }
    }

    static func insert(_ id: Int, on connection: PostgresConnection) async throws {
        try await connection.query("INSERT INTO applied (id) VALUES (\(id))", logger: .complaintTest)
    }

    static func backendPID(_ connection: PostgresConnection) async throws -> Int {
        try await connection.query("SELECT pg_backend_pid()::int", logger: .complaintTest).collect()[0].decode(Int.self)
    }

    static func applied(_ schema: SchemaName) async throws -> [Int] {
        try await withTestClient { direct in
            try await direct.query(PostgresQuery(unsafeSQL: "SELECT id FROM \(schema).applied ORDER BY id"), logger: .complaintTest)
                .collect().map { try $0.decode(Int.self) }
        }
    }

    @Test("a transaction in flight to a host that vanished fails within its bound, as transient; its retry commits once on a new connection")
    func vanishedHostFailsWithinBound() async throws {
        try await Self.withProxiedClient { client, proxy, schema in
            try await client.transaction(schema: schema, closingAfter: .seconds(10), logger: .complaintTest) { try await Self.insert(1, on: $0) }
            // Should the connection not be closed, the statement would wait for good: end it after 15 s instead.
            let fallback = Task {
                try await Task.sleep(for: .seconds(15))
                proxy.stop()
            }
            defer { fallback.cancel() }
            let started = ContinuousClock.now
            let failure: (any Error)?
            do {
                try await client.transaction(schema: schema, closingAfter: .seconds(1), logger: .complaintTest) { connection in
                    try await Self.insert(2, on: connection)
                    proxy.stall()
                    // Sent, never answered.
                    try await connection.query("SELECT 1", logger: .complaintTest)
                }
                failure = nil
            } catch {
                failure = error
            }
            let took = ContinuousClock.now - started
            let error = try #require(failure, "the statement through the stalled proxy succeeded")
            // Required: after the fallback the proxy is gone, and the retry would wait for a connection for good.
            try #require(took < .seconds(5), "the transaction failed after \(took)")
            #expect(PostgresErrorClassifier.isTransient(error), "\(String(reflecting: error))")
            // The retry, as the pipeline's: on a new connection, and the cut transaction left nothing behind.
            let retried = ContinuousClock.now
            try await client.transaction(schema: schema, closingAfter: .seconds(10), logger: .complaintTest) { try await Self.insert(2, on: $0) }
            Logger.complaintTest.info("statement bound: cut after \(took), retried in \(ContinuousClock.now - retried)")
            #expect(proxy.accepted == 2)
            #expect(try await Self.applied(schema) == [1, 2])
        }
    }

    @Test("work within its bound is untouched, and its timer never closes the connection the pool leases out later")
    func workWithinBoundKeepsConnection() async throws {
        try await Self.withProxiedClient { client, proxy, schema in
            let first = try await client.transaction(schema: schema, closingAfter: .milliseconds(300), logger: .complaintTest) { connection in
                try await Self.insert(1, on: connection)
                return try await Self.backendPID(connection)
            }
            // The pool's only connection again, busy on the server past the first lease's bound: a timer left
            // armed would close it now.
            let second = try await client.transaction(schema: schema, closingAfter: .seconds(30), logger: .complaintTest) { connection in
                try await connection.query("SELECT pg_sleep(0.8)", logger: .complaintTest)
                try await Self.insert(2, on: connection)
                return try await Self.backendPID(connection)
            }
            let third = try await client.withConnection(closingAfter: .milliseconds(300), logger: .complaintTest) { connection in
                try await Self.backendPID(connection)
            }
            #expect(first == second && second == third)
            #expect(proxy.accepted == 1)
            #expect(try await Self.applied(schema) == [1, 2])
        }
    }
}
