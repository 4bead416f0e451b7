import Foundation
import PostgresNIO
import Synchronization

/// Whether a PostgreSQL installation for `EmbeddedPostgres` is visible, checked without running anything (for
/// `.enabled(if:)`): tests that restart a server need their own instance even when `DATABASE_URL` is set.
public enum TestEnvironment {
    public static var hasLocalPostgres: Bool {
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

/// A query that should have returned a row returned none.
public struct NoRowReturned: Error, CustomStringConvertible {
    public var description: String { "the query returned no row" }
}

extension PostgresClient {
    /// The single value of a one-row, one-column query.
    public func scalar<Value: PostgresDecodable>(_ query: PostgresQuery, as type: Value.Type = Value.self) async throws -> Value {
        guard let row = try await self.query(query, logger: .complaintTest).collect().first else { throw NoRowReturned() }
        return try row.decode(Value.self)
    }
}

extension PostgresConnection {
    /// The single value of a one-row, one-column query.
    public func scalar<Value: PostgresDecodable>(_ query: PostgresQuery, as type: Value.Type = Value.self) async throws -> Value {
        guard let row = try await self.query(query, logger: .complaintTest).collect().first else { throw NoRowReturned() }
        return try row.decode(Value.self)
    }
}

/// A lock-protected value shared between tasks of a test.
public final class LockedBox<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    public init(_ value: Value) {
        self.mutex = Mutex(value)
    }

    public func set(_ value: Value) {
        self.mutex.withLock { $0 = value }
    }

    public func get() -> Value {
        self.mutex.withLock { $0 }
    }

    public func update<Result: Sendable>(_ body: (inout Value) -> Result) -> Result {
        self.mutex.withLock { body(&$0) }
    }
}
