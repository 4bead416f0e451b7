import Access
import ComplaintPipeline
import ComplaintStore
import Logging
import PostgresNIO
import Foundation
import NIOHTTP1
import ServiceLifecycle
import Synchronization

/// A stage that did not listen or become ready in time.
public struct StageDidNotStart: Error, CustomStringConvertible {
    public var description: String
}

/// Runs `runtime` (HTTP on the loopback port it was given, 0 for any) while `body` runs with its base URL
/// (`http://127.0.0.1:<port>`), once `/health/ready` answers 200: migrations applied, start-up steps
/// done. Then shuts it down gracefully and waits for it, also when `body` throws.
public func withRunningStage<Result: Sendable>(
    _ runtime: StageRuntime, timeout: Duration = .seconds(60), _ body: @Sendable (String) async throws -> Result
) async throws -> Result {
    var runtime = runtime
    let port = Mutex(0)
    runtime.onServerRunning = { value in port.withLock { $0 = value } }
    let group = try runtime.makeServiceGroup()
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        do {
            let listening = await eventually(timeout: timeout) {
                if port.withLock({ $0 }) == 0 { try? await Task.sleep(for: .milliseconds(20)) }
                return port.withLock { $0 } != 0
            }
            guard listening else { throw StageDidNotStart(description: "\(runtime.service.name) did not listen within \(timeout)") }
            let base = "http://127.0.0.1:\(port.withLock { $0 })"
            let ready = await eventually(timeout: timeout) {
                (try? await plainRequest(.GET, base + "/health/ready", key: nil))?.status == 200
            }
            guard ready else { throw StageDidNotStart(description: "\(runtime.service.name) was not ready within \(timeout)") }
            let result = try await body(base)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return result
        } catch {
            await group.triggerGracefulShutdown()
            try? await tasks.waitForAll()
            throw error
        }
    }
}

/// Runs `runtime` (a stage under an ``RedressService/isolated()`` schema) on the shared test database
/// while `body` runs with its base URL and a client of that database (see ``withRunningStage(_:timeout:_:)``);
/// drops the stage's schema afterwards, also when the stage or `body` throws.
public func withIsolatedStage<Result: Sendable>(
    _ runtime: StageRuntime, _ body: @Sendable (_ base: String, _ client: PostgresClient) async throws -> Result
) async throws -> Result {
    let schema = runtime.service.schema
    return try await withTestClient { client in
        do {
            let result = try await withRunningStage(runtime) { base in try await body(base, client) }
            try await dropSchema(schema, client: client)
            return result
        } catch {
            try? await dropSchema(schema, client: client)
            throw error
        }
    }
}

extension APIKeyStore {
    /// A store that checks every request against the database (no cache), and a new admin key of it:
    /// keys live in the shared access schema, as in production.
    public static func forTests(client: PostgresClient) async throws -> (keys: APIKeyStore, admin: String) {
        let keys = APIKeyStore(cacheLifetime: .zero)
        let admin = try await keys.create(name: "test-admin", role: .admin, hotels: [], client: client, logger: .complaintTest)
        return (keys, admin.key.description)
    }
}

extension RedressService {
    /// `service` under a fresh schema and consumer group of its own, with its real migrations: one
    /// test's copy, isolated from every other test's.
    public func isolated() -> RedressService {
        let schema = SchemaName.random(prefix: self.schema.rawValue)
        return RedressService(
            name: name, executable: "\(executable)-\(schema)", schema: schema, developmentPort: 0, migrationFolder: migrationFolder)
    }
}

extension ServiceSettings {
    /// A stage in a test: HTTP on any loopback port, warnings only, quick empty fetches, API keys
    /// checked on every request.
    public static func forTests(kafkaBrokers: [String], databaseURL: String) -> ServiceSettings {
        var settings = ServiceSettings(
            kafkaBrokers: kafkaBrokers, databaseURL: databaseURL, httpHost: "127.0.0.1", httpPort: 0, logLevel: .warning,
            shutdownTimeout: .seconds(20))
        settings.kafkaProperties = ["fetch.wait.max.ms": "10"]
        settings.access.keyCacheLifetime = .zero
        // Every request is a lookup without the cache: the flood guard would only get in the way.
        settings.access.keyLookupsPerSecond = 1_000_000
        return settings
    }
}

/// Runs `body` with `service`'s schema migrated (runtime tables and its own) on the shared test database
/// and a store on it; drops the schema afterwards, also when `body` throws.
public func withMigratedSchema<Result: Sendable>(
    of service: RedressService, _ body: (StageStore, PostgresClient) async throws -> Result
) async throws -> Result {
    try await withTestClient { client async throws in
        do {
            _ = try await Migrator(client: client, logger: .complaintTest).apply(try service.migrations())
            let result = try await body(StageStore(client: client, schema: service.schema, logger: .complaintTest), client)
            try await dropSchema(service.schema, client: client)
            return result
        } catch {
            try? await dropSchema(service.schema, client: client)
            throw error
        }
    }
}
