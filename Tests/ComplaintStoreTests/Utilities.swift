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
