import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import Logging
import ServiceLifecycle
import PostgresNIO
import Testing

@Suite("Stage runtime housekeeping", .timeLimit(.minutes(3)))
struct RuntimeHousekeepingTests {
    @Test("a service whose migrations folder cannot be found refuses to start, naming the folder")
    func missingMigrationsFolder() throws {
        let ghost = RedressService(name: "ghost", executable: "redress-ghost", schema: "ghost", developmentPort: 0)
        let settings = ServiceSettings(
            kafkaBrokers: ["127.0.0.1:9"], databaseURL: "postgres://redress@127.0.0.1:9/redress", httpHost: "127.0.0.1", httpPort: 0,
            logLevel: .warning, shutdownTimeout: .seconds(1))
        let runtime = StageRuntime(service: ghost, settings: settings, inputs: [], logger: .complaintTest)
        let error = try #require(throws: MissingMigrations.self) { _ = try runtime.makeServiceGroup() }
        #expect(error.folder == "services/ghost/migrations")
        #expect(error.description.contains("services/ghost/migrations not found"))
        #expect(error.description.contains("REDRESS_HOME"))
    }

    @Test("readiness knows when migrations are pending and when a background service stopped")
    func stageHealth() async throws {
        struct Broken: Error, CustomStringConvertible { var description: String { "sweep lost its database" } }
        struct FailingService: Service { func run() async throws { throw Broken() } }
        let health = StageHealth()
        #expect(health.problem?.hasPrefix("migrations not applied yet") == true)
        let migrated = Attempts()
        var retry = RetryPolicy()
        retry.initialDelay = .milliseconds(1)
        let prelude = PreludeService(
            name: "migrations", retry: retry, health: health, logger: .complaintTest,
            prelude: { if migrated.next() == 1 { throw Broken() } },
            then: [(name: "sweep", service: FailingService())])
        await #expect(throws: Broken.self) { try await prelude.run() }
        #expect(migrated.count == 2, "the failed migration was retried")
        #expect(health.problem == "sweep stopped: sweep lost its database")
    }

    @Test("the shipped services find their migrations: runtime tables first, then their own")
    func shippedServicesFindTheirMigrations() throws {
        for service in [RedressService.intake, .classifier] {
            let sets = try service.migrations()
            #expect(sets.map(\.track) == [RuntimeTables.track, MigrationSet.mainTrack])
            #expect(sets[1].migrations.isEmpty == false)
        }
    }

    @Test("retention deletes old inbox marks, sent outbox rows and settled intents, and keeps the rest")
    func retention() async throws {
        try await withRuntimeTables { client, tables in
            let schema = tables.schema.rawValue
            try await client.transaction(schema: tables.schema, logger: .complaintTest) { connection in
                for (age, topic) in [("10 days", "old"), ("1 hour", "new")] {
                    try await connection.query(PostgresQuery(unsafeSQL: """
                        INSERT INTO processed_events (event_id, topic, processed_at) VALUES (gen_random_uuid(), '\(topic)', now() - interval '\(age)')
                        """), logger: .complaintTest)
                    try await connection.query(PostgresQuery(unsafeSQL: """
                        INSERT INTO outbox (topic, aggregate_key, value, sent_at) VALUES ('\(topic)', 'k', '\\x00', now() - interval '\(age)')
                        """), logger: .complaintTest)
                    try await connection.query(PostgresQuery(unsafeSQL: """
                        INSERT INTO work_queue (kind, idempotency_key, payload, status, max_attempts, completed_at)
                        VALUES ('x', '\(topic)', '{}', 'succeeded', 1, now() - interval '\(age)')
                        """), logger: .complaintTest)
                }
                // Never purged, however old: unsent rows and pending intents.
                try await connection.query(PostgresQuery(unsafeSQL: """
                    INSERT INTO outbox (topic, aggregate_key, value, created_at) VALUES ('unsent', 'k2', '\\x00', now() - interval '30 days')
                    """), logger: .complaintTest)
                try await connection.query(PostgresQuery(unsafeSQL: """
                    INSERT INTO work_queue (kind, idempotency_key, payload, max_attempts, created_at) VALUES ('x', 'pending', '{}', 1, now() - interval '30 days')
                    """), logger: .complaintTest)
            }
            var configuration = RetentionService.Configuration()
            configuration.batchSize = 1
            let retention = RetentionService(tables: tables, client: client, configuration: configuration, logger: .complaintTest)
            let purged = try await retention.purgeOnce()
            #expect(purged == RetentionService.Purged(inbox: 1, outbox: 1, work: 1))
            func strings(_ sql: String) async throws -> [String] {
                try await client.query(PostgresQuery(unsafeSQL: sql), logger: .complaintTest).collect().map { try $0.decode(String.self) }
            }
            #expect(try await strings("SELECT topic FROM \(schema).processed_events") == ["new"])
            #expect(try await strings("SELECT topic FROM \(schema).outbox ORDER BY id") == ["new", "unsent"])
            #expect(try await strings("SELECT idempotency_key FROM \(schema).work_queue ORDER BY id") == ["new", "pending"])
        }
    }
}
