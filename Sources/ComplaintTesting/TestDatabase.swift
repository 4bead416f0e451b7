import EmbeddedDefault
import ComplaintStore
import Foundation
import Logging
import PostgresNIO

/// The PostgreSQL server tests use: `DATABASE_URL` (or `POSTGRES_HOSTNAME` …) when set, otherwise
/// one embedded server shared by the whole test process, started on first use.
///
/// Swift Testing has no global teardown, so the shared server relies on ``EmbeddedPostgres``'s own
/// exit handling (stop at exit, plus a watchdog if the process dies) to be gone with the process.
public actor TestDatabase {
    public static let shared = TestDatabase()

    private var resolution: Task<DatabaseConfiguration, any Error>?
    private var server: EmbeddedPostgres?

    /// How to reach the test server, starting it on first use.
    public func configuration() async throws -> DatabaseConfiguration {
        if let resolution {
            return try await resolution.value
        }
        let resolution = Task { try await self.resolve() }
        self.resolution = resolution
        return try await resolution.value
    }

    private func resolve() async throws -> DatabaseConfiguration {
        if let external = try DatabaseConfiguration.fromEnvironment() {
            return external
        }
        let server = EmbeddedPostgres(configuration: .forTesting, logger: .complaintTest)
        self.server = server
        return try await server.start()
    }
}

extension Logger {
    /// The tests' logger: quiet unless `LOG_LEVEL` asks for more.
    public static let complaintTest: Logger = {
        var logger = Logger(label: "redress.tests")
        logger.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) } ?? .warning
        return logger
    }()
}

/// Runs `body` with a running `PostgresClient` for `configuration`; the client stops afterwards.
public func withClient<Result: Sendable>(
    _ configuration: DatabaseConfiguration,
    _ body: (PostgresClient) async throws -> Result
) async throws -> Result {
    let client = PostgresClient(configuration: configuration.makeClientConfiguration(), backgroundLogger: .complaintTest)
    return try await withThrowingTaskGroup(of: Void.self) { group async throws in
        group.addTask { await client.run() }
        defer { group.cancelAll() }
        return try await body(client)
    }
}

/// Runs `body` with a client of the shared test database.
public func withTestClient<Result: Sendable>(_ body: (PostgresClient) async throws -> Result) async throws -> Result {
    try await withClient(try await TestDatabase.shared.configuration(), body)
}

extension SchemaName {
    /// A fresh schema name for one test (`prefix_` and 12 random hex digits).
    public static func random(prefix: String = "t") -> SchemaName {
        let hex = (0..<6).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        return try! SchemaName("\(prefix)_\(hex)")
    }
}

/// Drops `schema` and its migration ledger rows (the ledger may not exist yet: no migrator ran).
public func dropSchema(_ schema: SchemaName, client: PostgresClient) async throws {
    try await Migrator(client: client, logger: .complaintTest).drop(schema)
}

/// Runs `body` with a fresh schema holding the runtime tables (inbox, outbox), dropped afterwards.
public func withRuntimeTables<Result: Sendable>(
    _ body: (PostgresClient, RuntimeTables) async throws -> Result
) async throws -> Result {
    try await withTestClient { client async throws in
        let tables = RuntimeTables(schema: .random())
        do {
            try await Migrator(client: client, logger: .complaintTest).apply(tables.migrations())
            let result = try await body(client, tables)
            try await dropSchema(tables.schema, client: client)
            return result
        } catch {
            try? await dropSchema(tables.schema, client: client)
            throw error
        }
    }
}

/// Waits until `condition` holds, polling, up to `timeout`; returns its last value. The default is
/// generous on purpose: a passing run returns as soon as the condition holds, and a stage joining its
/// consumer group on a loaded 2-core CI machine took over 10 s (a poison-message test failed there).
/// A cancelled task stops waiting (its sleep would return at once, and the loop spin on both cores).
public func eventually(timeout: Duration = .seconds(60), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline && !Task.isCancelled {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}
