import ComplaintStore
import ComplaintTesting
import Foundation
import PostgresNIO
import Testing

@Suite(.timeLimit(.minutes(2)))
struct MigratorTests {
    private func migration(_ version: Int, _ name: String, _ sql: String) -> Migration {
        Migration(version: version, name: name, sql: sql, source: "test/\(String(format: "%04d", version))_\(name).sql")
    }

    @Test func applyingTwiceIsANoOp() async throws {
        try await withFreshSchema { client, schema async throws in
            let set = try MigrationSet(schema: schema, migrations: [
                self.migration(1, "create", "CREATE TABLE widgets (id int PRIMARY KEY, label text NOT NULL)"),
                self.migration(2, "seed", "INSERT INTO widgets VALUES (1, 'first; with a semicolon'); INSERT INTO widgets VALUES (2, 'second')"),
            ])
            let migrator = Migrator(client: client, logger: .test)

            let first = try await migrator.apply(set)
            #expect(first.appliedVersions == [1, 2])
            #expect(first.alreadyApplied == 0)

            let second = try await migrator.apply(set)
            #expect(second.appliedVersions == [])
            #expect(second.alreadyApplied == 2)

            // The unqualified table landed in the set's schema, and the seed ran exactly once.
            #expect(try await client.scalar("SELECT count(*) FROM \(unescaped: schema.rawValue).widgets", as: Int.self) == 2)
            let ledger = try await migrator.appliedMigrations(schema: schema)
            #expect(ledger.map(\.version) == [1, 2])
            #expect(ledger.map(\.name) == ["create", "seed"])
            #expect(ledger.map(\.checksum) == set.migrations.map(\.checksum))
            #expect(ledger.allSatisfy { $0.checksum.count == 64 })
        }
    }

    @Test func refusesAnEditedAppliedMigration() async throws {
        try await withFreshSchema { client, schema async throws in
            let original = self.migration(1, "create", "CREATE TABLE widgets (id int PRIMARY KEY)")
            let migrator = Migrator(client: client, logger: .test)
            try await migrator.apply(MigrationSet(schema: schema, migrations: [original]))

            let edited = self.migration(1, "create", "CREATE TABLE widgets (id bigint PRIMARY KEY)")
            let next = self.migration(2, "more", "CREATE TABLE gadgets (id int)")
            let error = try await #require(throws: ComplaintStoreError.self) {
                try await migrator.apply(MigrationSet(schema: schema, migrations: [edited, next]))
            }
            #expect(error.code == .migrationChecksumMismatch)
            #expect(error.reason.contains("\(schema)/main version 0001"))
            #expect(error.reason.contains("test/0001_create.sql"))
            #expect(error.reason.contains(original.checksum))
            #expect(error.reason.contains(edited.checksum))
            // Nothing of the refused set ran.
            #expect(try await client.scalar("SELECT to_regclass(\(schema.rawValue + ".gadgets"))::text IS NULL", as: Bool.self))
        }
    }

    @Test func concurrentMigratorsApplyEachMigrationOnce() async throws {
        try await withFreshSchema { client, schema async throws in
            let set = try MigrationSet(schema: schema, migrations: [
                // Slow and not idempotent: a second application would fail on CREATE TABLE.
                self.migration(1, "slow", "CREATE TABLE runs (at timestamptz DEFAULT now()); SELECT pg_sleep(0.3); INSERT INTO runs DEFAULT VALUES"),
                self.migration(2, "second", "CREATE TABLE second_runs (id int); INSERT INTO second_runs VALUES (1)"),
            ])
            let configuration = try await TestDatabase.shared.configuration()
            let reports = try await withThrowingTaskGroup(of: Migrator.Report.self) { group async throws in
                for _ in 0..<4 {
                    group.addTask {
                        try await withClient(configuration) { ownClient async throws in
                            try await Migrator(client: ownClient, logger: .test).apply(set)
                        }
                    }
                }
                var reports: [Migrator.Report] = []
                for try await report in group {
                    reports.append(report)
                }
                return reports
            }
            #expect(reports.count == 4)
            #expect(reports.filter { $0.appliedVersions == [1, 2] }.count == 1)
            #expect(reports.filter { $0.appliedVersions.isEmpty && $0.alreadyApplied == 2 }.count == 3)
            #expect(try await client.scalar("SELECT count(*) FROM \(unescaped: schema.rawValue).runs", as: Int.self) == 1)
            #expect(try await client.scalar("SELECT count(*) FROM \(unescaped: schema.rawValue).second_runs", as: Int.self) == 1)
        }
    }

    @Test func failingMigrationRollsBackAndNamesTheStatement() async throws {
        try await withFreshSchema { client, schema async throws in
            let good = self.migration(1, "good", "CREATE TABLE widgets (id int)")
            let bad = self.migration(2, "bad", "CREATE TABLE partial (id int); INSERT INTO missing_table VALUES (1)")
            let migrator = Migrator(client: client, logger: .test)
            let error = try await #require(throws: ComplaintStoreError.self) {
                try await migrator.apply(MigrationSet(schema: schema, migrations: [good, bad]))
            }
            #expect(error.code == .migrationFailed)
            #expect(error.reason.contains("version 0002"))
            #expect(error.reason.contains("statement 2 of 2"))
            #expect(PostgresErrorClassifier.sqlState(of: error) == "42P01")
            #expect(try await migrator.appliedMigrations(schema: schema).map(\.version) == [1])
            #expect(try await client.scalar("SELECT to_regclass(\(schema.rawValue + ".partial"))::text IS NULL", as: Bool.self))
            #expect(try await client.scalar("SELECT to_regclass(\(schema.rawValue + ".widgets"))::text IS NOT NULL", as: Bool.self))
        }
    }

    @Test func refusesAMigrationOlderThanAnAppliedOne() async throws {
        try await withFreshSchema { client, schema async throws in
            let migrator = Migrator(client: client, logger: .test)
            try await migrator.apply(MigrationSet(schema: schema, migrations: [
                self.migration(1, "one", "CREATE TABLE one (id int)"),
                self.migration(3, "three", "CREATE TABLE three (id int)"),
            ]))
            let error = try await #require(throws: ComplaintStoreError.self) {
                try await migrator.apply(MigrationSet(schema: schema, migrations: [
                    self.migration(1, "one", "CREATE TABLE one (id int)"),
                    self.migration(2, "two", "CREATE TABLE two (id int)"),
                    self.migration(3, "three", "CREATE TABLE three (id int)"),
                ]))
            }
            #expect(error.code == .migrationOutOfOrder)
            #expect(error.reason.contains("version 0002"))
        }
    }

    @Test func tracksAreIndependentWithinASchema() async throws {
        try await withFreshSchema { client, schema async throws in
            let migrator = Migrator(client: client, logger: .test)
            let runtime = RuntimeTables(schema: schema)
            let own = try MigrationSet(schema: schema, migrations: [
                self.migration(1, "complaints", "CREATE TABLE complaints (id uuid PRIMARY KEY)"),
            ])
            let reports = try await migrator.apply([try runtime.migrations(), own])
            #expect(reports.map(\.appliedVersions) == [[1, 2, 3, 4], [1]])
            #expect(try await migrator.appliedMigrations(schema: schema, track: RuntimeTables.track).map(\.name) == [
                "inbox_outbox", "relay_leases_and_work_queue", "outbox_dead_letters", "work_queue_by_kind",
            ])
            #expect(try await migrator.appliedMigrations(schema: schema).map(\.name) == ["complaints"])
            for table in ["processed_events", "outbox", "work_queue", "complaints"] {
                #expect(try await client.scalar("SELECT to_regclass(\(schema.rawValue + "." + table))::text IS NOT NULL", as: Bool.self))
            }
        }
    }

    @Test func runtimeTemplateIsInstantiatedPerSchema() throws {
        let classifier = try RuntimeTables(schema: "classifier").migrations()
        let intake = try RuntimeTables(schema: "intake").migrations()
        #expect(classifier.track == "runtime")
        #expect(classifier.migrations.first?.sql.contains("CREATE TABLE classifier.outbox") == true)
        #expect(classifier.migrations.first?.sql.contains("CREATE TABLE classifier.processed_events") == true)
        #expect(classifier.migrations.first?.sql.contains("{{") == false)
        #expect(intake.migrations.first?.sql.contains("CREATE TABLE intake.outbox") == true)
        #expect(classifier.migrations.first?.checksum != intake.migrations.first?.checksum)
    }

    @Test func checksumIsTheSHA256OfTheSQLText() {
        // FIPS 180-4's "abc" vector: a released ledger stays valid across implementations.
        let migration = Migration(version: 1, name: "x", sql: "abc", source: "test")
        #expect(migration.checksum == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func loadsMigrationsFromADirectory() throws {
        let directory = try Self.makeDirectory([
            "0002_add_index.sql": "CREATE INDEX ON {{schema}}.things ({{column}});",
            "0001_things.sql": "CREATE TABLE {{schema}}.things ({{column}} int);",
            "README.md": "not a migration",
        ])
        defer { try? FileManager.default.removeItem(at: directory) }
        let set = try MigrationSet.directory(directory, schema: "notifier", substitutions: ["column": "weight"])
        #expect(set.schema == "notifier")
        #expect(set.track == "main")
        #expect(set.migrations.map(\.version) == [1, 2])
        #expect(set.migrations.map(\.name) == ["things", "add_index"])
        #expect(set.migrations[0].sql == "CREATE TABLE notifier.things (weight int);")
        #expect(set.migrations[0].source.hasSuffix("/0001_things.sql"))
        #expect(set.migrations[0].checksum == Migration(version: 1, name: "things", sql: "CREATE TABLE notifier.things (weight int);", source: "x").checksum)
    }

    @Test(arguments: [
        (["1_short.sql": "SELECT 1"], "is not named"),
        (["0001_Upper.sql": "SELECT 1"], "is not named"),
        (["0001_a.sql": "SELECT 1", "0001_b.sql": "SELECT 2"], "appears twice"),
        (["0001_a.sql": "SELECT {{unknown}}"], "unresolved placeholder"),
    ])
    func refusesMalformedDirectories(_ files: [String: String], _ fragment: String) throws {
        let directory = try Self.makeDirectory(files)
        defer { try? FileManager.default.removeItem(at: directory) }
        let error = try #require(throws: ComplaintStoreError.self) {
            try MigrationSet.directory(directory, schema: "intake")
        }
        #expect(error.code == .invalidMigration)
        #expect(error.reason.contains(fragment), "\(error.reason)")
    }

    @Test func parsesFileNames() {
        #expect(Migration.parseFileName("0001_runtime.sql")! == (1, "runtime"))
        #expect(Migration.parseFileName("12345_big_number.sql")! == (12345, "big_number"))
        #expect(Migration.parseFileName("0000_zero.sql") == nil)
        #expect(Migration.parseFileName("0001_.sql") == nil)
        #expect(Migration.parseFileName("0001_x.txt") == nil)
        #expect(Migration.parseFileName("abcd_x.sql") == nil)
    }

    private static func makeDirectory(_ files: [String: String]) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("redress-migrations-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for (name, contents) in files {
            try contents.write(to: directory.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        return directory
    }
}
