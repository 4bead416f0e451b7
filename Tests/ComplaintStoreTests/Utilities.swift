import ComplaintStore
import ComplaintTesting
import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing

extension Logger {
    /// The tests' logger; `LOG_LEVEL=debug swift test` shows more.
    static var test: Logger { .complaintTest }
}

/// Whether a PostgreSQL installation for ``EmbeddedPostgres`` is visible, checked without running anything (for
/// `.enabled(if:)`): tests that restart a server need their own instance even when `DATABASE_URL` is set.
enum TestEnvironment {
    static var hasLocalPostgres: Bool {
        let fileManager = FileManager.default
        if let versions = try? fileManager.contentsOfDirectory(atPath: "/usr/lib/postgresql"),
            versions.contains(where: { fileManager.isExecutableFile(atPath: "/usr/lib/postgresql/\($0)/bin/initdb") })
        {
            return true
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        return path.split(separator: ":").contains { fileManager.isExecutableFile(atPath: "\($0)/initdb") }
    }
}

/// Runs `body` with a fresh, empty schema name (the schema itself is created by whatever the test applies).
func withFreshSchema<Result: Sendable>(
    _ body: (PostgresClient, SchemaName) async throws -> Result
) async throws -> Result {
    try await withTestClient { client async throws in
        let schema = SchemaName.random()
        do {
            let result = try await body(client, schema)
            try await dropSchema(schema, client: client)
            return result
        } catch {
            try? await dropSchema(schema, client: client)
            throw error
        }
    }
}

extension PostgresClient {
    /// The single value of a one-row, one-column query.
    func scalar<Value: PostgresDecodable>(_ query: PostgresQuery, as type: Value.Type = Value.self) async throws -> Value {
        let rows = try await self.query(query, logger: .test).collect()
        let row = try #require(rows.first)
        return try row.decode(Value.self)
    }
}

extension PostgresConnection {
    /// The single value of a one-row, one-column query.
    func scalar<Value: PostgresDecodable>(_ query: PostgresQuery, as type: Value.Type = Value.self) async throws -> Value {
        let rows = try await self.query(query, logger: .test).collect()
        let row = try #require(rows.first)
        return try row.decode(Value.self)
    }
}

/// A lock-protected value shared between tasks of a test.
final class LockedBox<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) {
        self.mutex = Mutex(value)
    }

    func set(_ value: Value) {
        self.mutex.withLock { $0 = value }
    }

    func get() -> Value {
        self.mutex.withLock { $0 }
    }

    func update<Result: Sendable>(_ body: (inout Value) -> Result) -> Result {
        self.mutex.withLock { body(&$0) }
    }
}
