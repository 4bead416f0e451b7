import ComplaintStore
import ComplaintTesting
import EmbeddedDefault
import Foundation
import NIOCore
import PostgresNIO
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite(.timeLimit(.minutes(3)))
struct PostgresErrorClassifierTests {
    static let sqlStates: [(String, Bool)] = [
        ("40001", true), ("40P01", true), ("57P01", true), ("57P02", true), ("57P03", true), ("08006", true),
        ("08001", true), ("08000", true), ("55P03", true), ("53300", true), ("53100", true), ("25006", true), ("58030", true),
        ("23505", false), ("23503", false), ("22P02", false), ("22012", false), ("42P01", false), ("28P01", false),
        ("57014", false), ("XX000", false),
    ]

    @Test(arguments: Self.sqlStates)
    func classifiesSQLState(_ state: String, _ transient: Bool) {
        #expect(PostgresErrorClassifier.isTransient(sqlState: state) == transient)
    }

    /// The same table, with real errors raised by the server and received through PostgresNIO. Each on its own
    /// connection: PostgresNIO closes a connection after a class 28 (authentication) error.
    @Test func classifiesServerErrors() async throws {
        let configuration = try await TestDatabase.shared.configuration().makeConnectionConfiguration()
        for (state, transient) in Self.sqlStates {
            let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: .test)
            let error = try await #require(throws: PSQLError.self) {
                try await connection.query(
                    PostgresQuery(unsafeSQL: "DO $$ BEGIN RAISE EXCEPTION 'simulated' USING ERRCODE = '\(state)'; END $$"),
                    logger: .test)
            }
            #expect(PostgresErrorClassifier.sqlState(of: error) == state)
            #expect(PostgresErrorClassifier.isTransient(error) == transient, "SQLSTATE \(state)")
            try? await connection.close()
        }
    }

    @Test func uniqueViolationAndDataErrorsArePermanent() async throws {
        try await withFreshSchema { client, schema async throws in
            try await client.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA \(schema)"), logger: .test)
            try await client.query(PostgresQuery(unsafeSQL: "CREATE TABLE \(schema).t (id int PRIMARY KEY)"), logger: .test)
            try await client.query(PostgresQuery(unsafeSQL: "INSERT INTO \(schema).t VALUES (1)"), logger: .test)

            let duplicate = try await #require(throws: PSQLError.self) {
                try await client.query(PostgresQuery(unsafeSQL: "INSERT INTO \(schema).t VALUES (1)"), logger: .test)
            }
            #expect(PostgresErrorClassifier.isUniqueViolation(duplicate))
            #expect(!PostgresErrorClassifier.isTransient(duplicate))

            let division = try await #require(throws: PSQLError.self) {
                try await client.query("SELECT 1 / 0", logger: .test)
            }
            #expect(PostgresErrorClassifier.sqlState(of: division) == "22012")
            #expect(!PostgresErrorClassifier.isTransient(division))

            let badUUID = try await #require(throws: PSQLError.self) {
                try await client.query("SELECT 'not-a-uuid'::uuid", logger: .test)
            }
            #expect(!PostgresErrorClassifier.isTransient(badUUID))
        }
    }

    @Test func looksThroughPostgresTransactionError() async throws {
        try await withTestClient { client async throws in
            let error = try await #require(throws: PostgresTransactionError.self) {
                try await client.withTransaction(logger: .test) { connection async throws in
                    try await connection.query(
                        "DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END $$", logger: .test)
                }
            }
            #expect(PostgresErrorClassifier.isTransient(error))
            #expect(PostgresErrorClassifier.sqlState(of: error) == "40001")
        }
    }

    @Test func ourTransactionRethrowsTheBodysErrorAndDetectsSilentRollbacks() async throws {
        try await withTestClient { client async throws in
            struct DomainError: Error, Equatable {}
            await #expect(throws: DomainError()) {
                try await client.transaction(logger: .test) { _ in throw DomainError() }
            }
            // A body that swallows a failed statement leaves an aborted transaction; COMMIT then rolls back.
            let rolledBack = try await #require(throws: ComplaintStoreError.self) {
                try await client.transaction(logger: .test) { connection async throws in
                    _ = try? await connection.query("SELECT 1 / 0", logger: .test)
                }
            }
            #expect(rolledBack.code == .transactionRolledBack)
            #expect(!PostgresErrorClassifier.isTransient(rolledBack))
            let level = try await client.transaction(isolationLevel: .serializable, readOnly: true, logger: .test) {
                connection in
                try await connection.scalar("SHOW transaction_isolation", as: String.self)
            }
            #expect(level == "serializable")
        }
    }

    @Test func classifiesTransportErrors() {
        #expect(PostgresErrorClassifier.isTransient(IOError(errnoCode: ECONNREFUSED, reason: "connect")))
        #expect(PostgresErrorClassifier.isTransient(IOError(errnoCode: ECONNRESET, reason: "read")))
        #expect(!PostgresErrorClassifier.isTransient(IOError(errnoCode: EACCES, reason: "open")))
        #expect(PostgresErrorClassifier.isTransient(ChannelError.ioOnClosedChannel))
        #expect(PostgresErrorClassifier.isTransient(ChannelError.connectTimeout(.seconds(1))))
        #expect(!PostgresErrorClassifier.isTransient(CancellationError()))
    }

    @Test func connectionRefusedIsTransient() async throws {
        // A loopback port with nothing listening: bind, note it, close.
        let port = try Self.closedLoopbackPort()
        let configuration = DatabaseConfiguration(
            endpoint: .tcp(host: "127.0.0.1", port: port), username: "nobody", tlsMode: .disable)
        let error = try await #require(throws: (any Error).self) {
            _ = try await PostgresConnection.connect(
                configuration: try configuration.makeConnectionConfiguration(), id: 1, logger: .test)
        }
        #expect(PostgresErrorClassifier.isTransient(error), "\(String(reflecting: error))")
    }

    /// Stopping the server under a client produces transient errors; after a restart the same client recovers.
    @Test(.enabled(if: TestEnvironment.hasLocalPostgres))
    func databaseRestartIsTransientAndRecoverable() async throws {
        try await withEmbeddedPostgres(configuration: .forTesting, logger: .test) { server async throws in
            let configuration = try await server.databaseConfiguration
            try await withClient(configuration) { client async throws in
                #expect(try await client.scalar("SELECT 41 + 1", as: Int.self) == 42)

                // A query running while the server shuts down fails (57P01 admin shutdown or a closed connection).
                let running = Task {
                    // Rows stream lazily: the failure surfaces while collecting them.
                    try await client.query("SELECT pg_sleep(30)", logger: .test).collect().count
                }
                // Running on the server before it stops, not only sent.
                let started = try await eventually(timeout: .seconds(15)) {
                    try await client.scalar("SELECT count(*)::int FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)'", as: Int.self) > 0
                }
                #expect(started)
                try await server.stop()
                let interrupted = await running.result
                guard case .failure(let failure) = interrupted else {
                    Issue.record("the query survived a server shutdown")
                    return
                }
                #expect(PostgresErrorClassifier.isTransient(failure), "\(String(reflecting: failure))")

                // While it is down, connecting is refused: transient too.
                let refused = try await #require(throws: (any Error).self) {
                    _ = try await PostgresConnection.connect(
                        configuration: try configuration.makeConnectionConfiguration(), id: 2, logger: .test)
                }
                #expect(PostgresErrorClassifier.isTransient(refused), "\(String(reflecting: refused))")

                try await server.start()
                #expect(try await server.databaseConfiguration == configuration, "the restart moved the server")

                // The same pool reconnects; a caller retrying transient errors gets through.
                var attempts = 0
                var answer: Int?
                while answer == nil && attempts < 100 {
                    attempts += 1
                    do {
                        answer = try await client.scalar("SELECT 6 * 7", as: Int.self)
                    } catch where PostgresErrorClassifier.isTransient(error) {
                        try await Task.sleep(for: .milliseconds(100))
                    }
                }
                #expect(answer == 42)
            }
        }
    }

    private static func closedLoopbackPort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
