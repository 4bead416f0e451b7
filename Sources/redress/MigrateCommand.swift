import Access
import ArgumentParser
import ComplaintPipeline
import ComplaintStore
import Logging
import PostgresNIO

/// `redress migrate`: applies every service's migrations to the database in `DATABASE_URL`.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply the migrations of every Redress service schema (idempotent)."
    )

    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let logger = Logger(label: "redress.migrate")
        let database = try DatabaseConfiguration(url: try self.database.url())
        let reports = try await Self.migrate(database, logger: logger)
        for report in reports {
            print("\(report.schema) [\(report.track)]: applied \(report.appliedVersions.count), already applied \(report.alreadyApplied)")
        }
    }

    /// Applies every service's migrations, holding the migrator's lock.
    static func migrate(_ database: DatabaseConfiguration, logger: Logger) async throws -> [Migrator.Report] {
        let client = PostgresClient(configuration: database.makeClientConfiguration(), backgroundLogger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            // Every service's own folder is required: run from a folder without `services/` (and no
            // REDRESS_HOME), it names what it could not find instead of applying runtime tables only
            // and reporting success. The shared access schema first: services' own migrations may rely on it.
            let sets = try [AccessTables.migrations()] + RedressService.all.flatMap { try $0.migrations() }
            return try await Migrator(client: client, logger: logger).apply(sets)
        }
    }
}

extension MigrateCommand {
    /// After a replay or rebuild failed: drops its scratch schema (unless `keep`) and says what became
    /// of it. The schema may hold complaint text, so a drop that failed is said, never hidden.
    static func dropAfterFailure(_ schema: SchemaName, keep: Bool, client: PostgresClient, logger: Logger) async {
        if keep {
            print("kept schema \(schema)")
            return
        }
        do {
            try await Migrator(client: client, logger: logger).drop(schema)
            print("dropped schema \(schema)")
        } catch {
            print("could not drop schema \(schema): \(error) — drop it by hand (DROP SCHEMA \(schema) CASCADE)")
        }
    }
}
