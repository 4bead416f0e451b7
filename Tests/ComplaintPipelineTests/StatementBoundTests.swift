@testable import ComplaintStore
import ComplaintTesting
import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing

/// A statement sent to a host that vanished (no RST, packets dropped) waited until the kernel gave
/// up, ~15 min, stalling a stage's inbox, relay or work queue: PostgresNIO sets no TCP keepalive on the
/// pool's connections. `PostgresClient.withConnection(closingAfter:)` closes the leased connection
/// once its work passes the bound, failing the work (retried) at once. A first version hung in about
/// half of the parallel runs: a `ROLLBACK` written after the close was dropped by PostgresNIO, never
/// answered (`commitAfterBoundCloseFails`, `rollbackAfterBoundCloseFails`); a body's own statement sent
/// after the close was too (`bodyStatementAfterBoundCloseFails`).
@Suite("Statement bound", .timeLimit(.minutes(2)))
struct StatementBoundTests {
    /// Runs `body` with a client of one connection reaching the test database through `proxy`, and a
    /// fresh schema holding `applied (id int)`, dropped afterwards.
    static func withProxiedClient(
        _ body: (PostgresClient, DatabaseProxy, SchemaName) async throws -> Void
    ) async throws {
        let database = try await TestDatabase.shared.configuration()
        let schema = SchemaName.random(prefix: "bound")
        let proxy = try DatabaseProxy(to: database.endpoint)
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

    /// `work`'s outcome, or `nil` when it has not ended after `limit`. Work that has not ended is left
    /// behind: a statement PostgresNIO 1.33.2 dropped is never answered, its wait cannot be cancelled, and
    /// the suite must not wait for it (`withDeadline` and `withTimeout` wait for their work to end).
    static func outcome<Value: Sendable>(
        within limit: Duration, _ work: @escaping @Sendable () async throws -> Value
    ) async -> Result<Value, any Error>? {
        let waiting = Mutex<CheckedContinuation<Result<Value, any Error>?, Never>?>(nil)
        let finish: @Sendable (Result<Value, any Error>?) -> Void = { outcome in
            waiting.withLock { $0.take() }?.resume(returning: outcome)
        }
        let timer = Mutex<Task<Void, Never>?>(nil)
        let outcome = await withCheckedContinuation { continuation in
            waiting.withLock { $0 = continuation }
            Task {
                do { finish(.success(try await work())) } catch { finish(.failure(error)) }
            }
            timer.withLock {
                $0 = Task {
                    guard (try? await Task.sleep(for: limit)) != nil else { return }
                    finish(nil)
                }
            }
        }
        timer.withLock { $0 }?.cancel()
        return outcome
    }

    @Test("a transaction in flight to a host that vanished fails within its bound, as transient; its retry commits once on a new connection")
    func vanishedHostFailsWithinBound() async throws {
        try await Self.withProxiedClient { client, proxy, schema in
            try await client.transaction(schema: schema, closingAfter: .seconds(10), logger: .complaintTest) { try await Self.insert(1, on: $0) }
            let started = ContinuousClock.now
            // Should the transaction never end, the test goes on without it; ending the client closes its connection.
            let outcome = await Self.outcome(within: .seconds(10)) {
                try await client.transaction(schema: schema, closingAfter: .seconds(1), logger: .complaintTest) { connection in
                    try await Self.insert(2, on: connection)
                    proxy.stall()
                    // Sent, never answered.
                    try await connection.query("SELECT 1", logger: .complaintTest)
                }
            }
            let took = ContinuousClock.now - started
            let ended = try #require(outcome, "the transaction through the stalled proxy never ended")
            guard case .failure(let error) = ended else {
                Issue.record("the statement through the stalled proxy succeeded")
                return
            }
            #expect(took < .seconds(5), "the transaction failed after \(took)")
            #expect(PostgresErrorClassifier.isTransient(error), "\(String(reflecting: error))")
            // The retry, as the pipeline's: on a new connection, and the cut transaction left nothing behind.
            let retried = ContinuousClock.now
            let retry = await Self.outcome(within: .seconds(10)) {
                try await client.transaction(schema: schema, closingAfter: .seconds(10), logger: .complaintTest) { try await Self.insert(2, on: $0) }
            }
            try #require(retry, "the retry never ended").get()
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

    struct BodyFailed: Error {}

    /// The bound closed the connection while the body was between statements; the transaction's
    /// `COMMIT` (or `ROLLBACK`) came after the close. PostgresNIO 1.33.2 writes a statement without a write
    /// promise, so one written once the closed channel's handlers are gone is dropped and never answered:
    /// the transaction waited for good, uncancellable (the vanished-host test's hang, in about half of the
    /// parallel runs, when its `ROLLBACK` lost the race with the channel's teardown).
    @Test("a transaction whose bound passes between its statements ends at once: its COMMIT on the closed connection fails as transient, nothing applied")
    func commitAfterBoundCloseFails() async throws {
        try await Self.withProxiedClient { client, _, schema in
            let outcome = await Self.outcome(within: .seconds(10)) {
                try await client.transaction(schema: schema, closingAfter: .milliseconds(300), logger: .complaintTest) { connection in
                    try await Self.insert(1, on: connection)
                    // Until the bound has closed the connection and its channel is torn down.
                    try await connection.closeFuture.get()
                }
            }
            let ended = try #require(outcome, "the transaction's COMMIT on the closed connection was never answered")
            #expect(throws: (any Error).self) { try ended.get() }
            if case .failure(let error) = ended {
                #expect(PostgresErrorClassifier.isTransient(error), "\(String(reflecting: error))")
            }
            #expect(try await Self.applied(schema) == [])
        }
    }

    @Test("a transaction whose body fails after its bound closed the connection ends at once with the body's error: its ROLLBACK is not left waiting")
    func rollbackAfterBoundCloseFails() async throws {
        try await Self.withProxiedClient { client, _, schema in
            let outcome = await Self.outcome(within: .seconds(10)) {
                try await client.transaction(schema: schema, closingAfter: .milliseconds(300), logger: .complaintTest) { connection in
                    try await Self.insert(1, on: connection)
                    try await connection.closeFuture.get()
                    throw BodyFailed()
                }
            }
            let ended = try #require(outcome, "the transaction's ROLLBACK on the closed connection was never answered")
            #expect(throws: BodyFailed.self) { try ended.get() }
            #expect(try await Self.applied(schema) == [])
        }
    }

    /// PostgresNIO's pool (1.33.2) does not replace a leased connection that closes: a lease waiting for
    /// the pool's one connection stayed queued when the bound closed it, until someone else asked for one.
    @Test("a lease queued behind a connection its bound closed gets a new connection")
    func queuedLeaseGetsNewConnection() async throws {
        try await Self.withProxiedClient { client, proxy, _ in
            // Queued behind the pool's only connection until the bound closes it.
            let outcome = await Self.leaseQueuedBehind(client, bound: .milliseconds(500)) { connection in
                try await connection.closeFuture.get()
            }
            try #require(outcome, "the queued lease never got a connection").get()
            #expect(proxy.accepted == 2)
        }
    }

    /// The body's own statement, sent once the bound closed the connection (between the statements of a
    /// shared batch, the relay's marks): PostgresNIO 1.33.2 drops it and never answers it; the work is given
    /// up on a grace after the close instead of holding its stage, and graceful shutdown, for good.
    @Test("a body whose statement comes after its bound closed the connection fails as transient a grace after the close")
    func bodyStatementAfterBoundCloseFails() async throws {
        try await Self.withProxiedClient { client, _, schema in
            let started = ContinuousClock.now
            let outcome = await Self.outcome(within: .seconds(10)) {
                try await client.transaction(schema: schema, closingAfter: .milliseconds(300), logger: .complaintTest) { connection in
                    try await Self.insert(1, on: connection)
                    try await connection.closeFuture.get()
                    try await connection.query("SELECT 1", logger: .complaintTest)
                }
            }
            let took = ContinuousClock.now - started
            let ended = try #require(outcome, "the body's statement on the closed connection was never answered")
            #expect(throws: (any Error).self) { try ended.get() }
            if case .failure(let error) = ended {
                #expect(PostgresErrorClassifier.isTransient(error), "\(String(reflecting: error))")
            }
            #expect(took < .seconds(5), "the work ended after \(took)")
            #expect(try await Self.applied(schema) == [])
            // The pool serves the retry on a new connection.
            let retry = await Self.outcome(within: .seconds(10)) {
                try await client.withConnection(closingAfter: .seconds(10), logger: .complaintTest) { try await Self.backendPID($0) }
            }
            _ = try #require(retry, "no connection after the given-up work").get()
        }
    }

    /// PostgresNIO's pool does not replace a leased connection that closes, whatever closed it: the server
    /// (an administrator's `pg_terminate_backend`, a restart) or the network, not only the bound.
    @Test("a lease queued behind a connection the server closed gets a new connection")
    func queuedLeaseGetsNewConnectionAfterServerClose() async throws {
        try await Self.withProxiedClient { client, proxy, _ in
            // Queued behind the pool's only connection until the server closes it.
            let outcome = await Self.leaseQueuedBehind(client, bound: .seconds(60)) { connection in
                let pid = try await Self.backendPID(connection)
                try await withTestClient { direct in
                    try await direct.query(PostgresQuery(unsafeSQL: "SELECT pg_terminate_backend(\(pid))"), logger: .complaintTest)
                }
                try await connection.closeFuture.get()
            }
            try #require(outcome, "the queued lease never got a connection").get()
            #expect(proxy.accepted == 2)
        }
    }

    /// The guard on a transaction's own statements registered a callback on the connection's
    /// `closeFuture` per statement, holding its result until the connection closed: on every
    /// transaction of every service, bounded or not.
    /// The test process's resident memory (`/proc/self/statm`).
    static func residentBytes() throws -> Int {
        let statm = try String(contentsOfFile: "/proc/self/statm", encoding: .utf8).split(separator: " ")
        return Int(statm[1])! * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    @Test("the guarded statements of a transaction keep nothing on the connection: their results are freed")
    func guardedStatementsKeepNothing() async throws {
        try await withTestClient { client in
            try await client.withConnection { connection in
                let statements = 600
                let size = 300_000
                // Warm up the connection's buffers.
                try await connection.statementUnlessClosed(PostgresQuery(unsafeSQL: "SELECT repeat('x', \(size))"), logger: .complaintTest)
                let before = try Self.residentBytes()
                for _ in 0..<statements {
                    try await connection.statementUnlessClosed(PostgresQuery(unsafeSQL: "SELECT repeat('x', \(size))"), logger: .complaintTest)
                }
                let grown = try Self.residentBytes() - before
                Logger.complaintTest.info("statement guard: resident memory grew by \(grown) bytes over \(statements) statements")
                // Kept, the results would be at least statements × size (180 MB).
                #expect(grown < statements * size / 3, "resident memory grew by \(grown) bytes")
            }
        }
    }

    /// Leases the pool's only connection for `holding` (under `bound`), and once it is leased asks for
    /// another: the outcome of that second lease, nil if it got no connection within 10 s.
    static func leaseQueuedBehind(
        _ client: PostgresClient, bound: Duration, holding: @escaping @Sendable (PostgresConnection) async throws -> Void
    ) async -> Result<Void, any Error>? {
        await outcome(within: .seconds(10)) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                let (leased, leasing) = AsyncStream<Void>.makeStream()
                group.addTask {
                    try await client.withConnection(closingAfter: bound, logger: .complaintTest) { connection in
                        leasing.yield()
                        try await holding(connection)
                    }
                }
                for await _ in leased { break }
                group.addTask { _ = try await client.withConnection { try await Self.backendPID($0) } }
                try await group.waitForAll()
            }
        }
    }
}
