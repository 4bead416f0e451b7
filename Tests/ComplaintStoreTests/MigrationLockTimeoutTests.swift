import ComplaintStore
import ComplaintTesting
import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing

/// A migration's `ALTER TABLE` waiting behind a long transaction holds every other statement on the
/// table behind it: the migrator gives up the lock after `lock_timeout`, rolls back and tries again.
@Suite(.timeLimit(.minutes(2)))
struct MigrationLockTimeoutTests {
    /// Holds `ACCESS SHARE` on `table` (a long read, an operator's open `psql` transaction) until
    /// `release` finishes, running `body` meanwhile.
    private func whileTableIsRead<Result: Sendable>(
        _ table: String, client: PostgresClient, _ body: @escaping @Sendable (_ release: @escaping @Sendable () -> Void) async throws -> Result
    ) async throws -> Result {
        let (released, release) = AsyncStream<Void>.makeStream()
        let holding = AsyncStream<Void>.makeStream()
        return try await withThrowingTaskGroup(of: Result?.self) { group in
            group.addTask {
                try await client.withConnection { connection in
                    try await connection.query("BEGIN", logger: .test)
                    _ = try await connection.query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(table)"), logger: .test).collect()
                    holding.continuation.finish()
                    for await _ in released {}
                    try await connection.query("ROLLBACK", logger: .test)
                }
                return nil
            }
            defer { release.finish() }
            for await _ in holding.stream {}
            let result = try await body { release.finish() }
            release.finish()
            var answer: Result?
            for try await value in group { if let value { answer = value } }
            return answer ?? result
        }
    }

    private func migrator(_ client: PostgresClient, logs: CapturedLogs, attempts: Int) -> Migrator {
        var configuration = Migrator.Configuration()
        configuration.statementLockTimeout = .milliseconds(200)
        configuration.lockTimeoutAttempts = attempts
        configuration.lockTimeoutBackoff = .milliseconds(20)
        return Migrator(client: client, logger: Logger(label: "migrator") { _ in logs }, configuration: configuration)
    }

    @Test func aMigrationBehindALongReadGivesUpAfterItsAttemptsInsteadOfWaiting() async throws {
        try await withFreshSchema { client, schema async throws in
            let create = Migration(version: 1, name: "create", sql: "CREATE TABLE widgets (id int)", source: "test/0001_create.sql")
            let alter = Migration(version: 2, name: "alter", sql: "ALTER TABLE widgets ADD COLUMN label text", source: "test/0002_alter.sql")
            try await Migrator(client: client, logger: .test).apply(MigrationSet(schema: schema, migrations: [create]))
            let logs = CapturedLogs()
            let migrator = self.migrator(client, logs: logs, attempts: 3)
            let outcome = Outcome()
            try await whileTableIsRead("\(schema).widgets", client: client) { release in
                let task = Task {
                    do {
                        try await migrator.apply(MigrationSet(schema: schema, migrations: [create, alter]))
                        outcome.settle(nil)
                    } catch {
                        outcome.settle(error)
                    }
                }
                // Without a lock_timeout the ALTER waits for the reader for ever.
                let settled = await eventually(timeout: .seconds(20)) { outcome.isSettled }
                #expect(settled, "the migration still waits for the table's lock")
                release()
                await task.value
            }
            let error = try #require(outcome.error)
            #expect(PostgresErrorClassifier.sqlState(of: error) == "55P03", "\(error)")
            #expect(logs.entries.filter { $0.level == .warning && $0.message.contains("lock_timeout") }.count == 2)
            #expect(try await Migrator(client: client, logger: .test).appliedMigrations(schema: schema).map(\.version) == [1])
        }
    }

    @Test func aMigrationThatTimedOutIsTriedAgainAndAppliedOnceTheTableIsFree() async throws {
        try await withFreshSchema { client, schema async throws in
            let create = Migration(version: 1, name: "create", sql: "CREATE TABLE widgets (id int)", source: "test/0001_create.sql")
            let alter = Migration(version: 2, name: "alter", sql: "ALTER TABLE widgets ADD COLUMN label text", source: "test/0002_alter.sql")
            try await Migrator(client: client, logger: .test).apply(MigrationSet(schema: schema, migrations: [create]))
            let logs = CapturedLogs()
            let migrator = self.migrator(client, logs: logs, attempts: 50)
            let task = try await whileTableIsRead("\(schema).widgets", client: client) { release in
                let task = Task { try await migrator.apply(MigrationSet(schema: schema, migrations: [create, alter])) }
                let retried = await eventually(timeout: .seconds(20)) { logs.entries.contains { $0.level == .warning } }
                #expect(retried, "the migration did not give the lock up")
                release()
                return task
            }
            let report = try await task.value
            #expect(report.appliedVersions == [2])
            #expect(try await client.scalar(
                "SELECT count(*) FROM information_schema.columns WHERE table_schema = \(schema.rawValue) AND column_name = 'label'", as: Int.self) == 1)
        }
    }
}

/// How a migration run in a task ended, for a test that watches it.
private final class Outcome: Sendable {
    private let value = Mutex<(settled: Bool, error: (any Error)?)>((false, nil))
    func settle(_ error: (any Error)?) { value.withLock { $0 = (true, error) } }
    var isSettled: Bool { value.withLock { $0.settled } }
    var error: (any Error)? { value.withLock { $0.error } }
}
