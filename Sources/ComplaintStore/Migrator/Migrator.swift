import Foundation
import Logging
import PostgresNIO

/// Applies ``MigrationSet``s to a database exactly once, in order, and refuses edited migrations.
///
/// - Each pending migration runs in its own transaction together with its ledger row, so a failure leaves the
///   migration wholly unapplied. The transaction waits at most ``Configuration/statementLockTimeout`` for
///   each table lock (`SET LOCAL lock_timeout`): an `ALTER TABLE` queued behind a long transaction would
///   otherwise hold every other statement on that table behind it. A migration that timed out is rolled
///   back and tried again with backoff, up to ``Configuration/lockTimeoutAttempts`` times, each retry
///   logged with why.
/// - The ledger is `redress.redress_migrations` (schema, track, version, name, SHA-256 checksum, applied_at).
/// - A session-level PostgreSQL advisory lock serialises migrators: when several services start at once, one
///   applies and the others wait, then find nothing to do.
/// - Before anything runs, every applied migration's checksum is compared with the file's; a difference fails
///   with ``ComplaintStoreError/Code/migrationChecksumMismatch`` naming schema, version, file and both checksums.
///   A pending migration older than an applied one fails with ``ComplaintStoreError/Code/migrationOutOfOrder``.
public struct Migrator: Sendable {
    /// Settings of a ``Migrator``.
    ///
    /// - `ledgerSchema`: where the `redress_migrations` table lives. Default `redress`.
    /// - `lockTimeout`: how long to wait for another migrator to finish. Default 2 minutes.
    /// - `lockPollInterval`: how often to retry the advisory lock while waiting. Default 100 ms.
    public struct Configuration: Sendable {
        /// The schema holding the `redress_migrations` ledger.
        public var ledgerSchema: SchemaName = "redress"
        /// How long to wait for the migration lock before failing.
        public var lockTimeout: Duration = .seconds(120)
        /// How often to retry the migration lock while another migrator holds it.
        public var lockPollInterval: Duration = .milliseconds(100)
        /// How long a migration's statements wait for a table lock (`lock_timeout`) before the migration
        /// is rolled back and tried again. Default 10 s.
        public var statementLockTimeout: Duration = .seconds(10)
        /// How many times a migration is tried while it times out waiting for a table lock. Default 5.
        public var lockTimeoutAttempts = 5
        /// The wait before the first retry of a migration that timed out on a lock; doubled for each
        /// further retry. Default 2 s.
        public var lockTimeoutBackoff: Duration = .seconds(2)

        /// The default configuration.
        public init() {}
    }

    /// What one ``Migrator/apply(_:)-(MigrationSet)`` call did for one set.
    public struct Report: Sendable, Hashable {
        /// The set's schema.
        public var schema: SchemaName
        /// The set's track.
        public var track: String
        /// The versions applied by this call, in order.
        public var appliedVersions: [Int]
        /// How many of the set's migrations were already applied before this call.
        public var alreadyApplied: Int
    }

    /// The advisory lock key shared by all migrators (the ASCII bytes of "REDRESSM").
    static let advisoryLockKey: Int64 = 0x5245_4452_4553_534D

    private let client: PostgresClient
    private let logger: Logger
    private let configuration: Configuration

    /// Creates a migrator that works through `client`.
    public init(client: PostgresClient, logger: Logger, configuration: Configuration = .init()) {
        self.client = client
        self.logger = logger
        self.configuration = configuration
    }

    private var ledger: String { "\(self.configuration.ledgerSchema).redress_migrations" }

    /// Applies the pending migrations of `set`.
    ///
    /// - Returns: What was applied.
    /// - Throws: A ``ComplaintStoreError`` for an edited, out-of-order or failing migration, or a lock timeout;
    ///   connection errors from PostgresNIO.
    @discardableResult
    public func apply(_ set: MigrationSet) async throws -> Report {
        try await self.apply([set])[0]
    }

    /// Applies the pending migrations of several sets, in the given order, under one lock.
    ///
    /// All sets are validated (checksums, order) before any migration runs.
    @discardableResult
    public func apply(_ sets: [MigrationSet]) async throws -> [Report] {
        try await self.client.withConnection { connection in
            try await self.withMigrationLock(on: connection) {
                try await self.createLedgerIfNeeded(on: connection)

                var plans: [(set: MigrationSet, pending: [Migration], alreadyApplied: Int)] = []
                for set in sets {
                    let applied = try await self.appliedMigrations(schema: set.schema, track: set.track, on: connection)
                    let pending = try self.plan(set, applied: applied)
                    plans.append((set, pending, set.migrations.count - pending.count))
                }

                var reports: [Report] = []
                for plan in plans {
                    for migration in plan.pending {
                        try await self.run(migration, of: plan.set, on: connection)
                    }
                    if plan.pending.isEmpty {
                        self.logger.debug(
                            "Migrations up to date",
                            metadata: ["schema": "\(plan.set.schema)", "track": "\(plan.set.track)"]
                        )
                    }
                    reports.append(Report(
                        schema: plan.set.schema,
                        track: plan.set.track,
                        appliedVersions: plan.pending.map(\.version),
                        alreadyApplied: plan.alreadyApplied
                    ))
                }
                return reports
            }
        }
    }

    /// Drops a temporary schema (a replay's, a benchmark's) and forgets its migrations in the ledger,
    /// so that a schema of the same name would be migrated afresh.
    public func drop(_ schema: SchemaName) async throws {
        try await client.query(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \(schema) CASCADE"), logger: logger)
        let ledgerExists = try await client.query(
            "SELECT to_regclass(\(ledger)) IS NOT NULL", logger: logger).collect().first?.decode(Bool.self) ?? false
        if ledgerExists {
            try await client.query(PostgresQuery(unsafeSQL: "DELETE FROM \(ledger) WHERE schema = $1", binds: {
                var binds = PostgresBindings()
                binds.append(schema.rawValue)
                return binds
            }()), logger: logger)
        }
    }

    /// The migrations recorded in the ledger for `schema` and `track`, by version.
    public func appliedMigrations(
        schema: SchemaName,
        track: String = MigrationSet.mainTrack
    ) async throws -> [AppliedMigration] {
        try await self.client.withConnection { connection in
            let exists = try await connection.query(
                "SELECT to_regclass(\(self.ledger)) IS NOT NULL",
                logger: self.logger
            ).collect()
            guard try exists.first?.decode(Bool.self) == true else { return [] }
            return try await self.appliedMigrations(schema: schema, track: track, on: connection)
        }
    }

    // MARK: - Steps

    private func plan(_ set: MigrationSet, applied: [AppliedMigration]) throws -> [Migration] {
        let byVersion = Dictionary(uniqueKeysWithValues: set.migrations.map { ($0.version, $0) })
        for record in applied {
            guard let migration = byVersion[record.version] else {
                self.logger.debug(
                    "The database has a migration this build does not know (applied by a newer release?)",
                    metadata: ["schema": "\(set.schema)", "track": "\(set.track)", "version": "\(record.version)"]
                )
                continue
            }
            guard migration.checksum == record.checksum else {
                throw ComplaintStoreError.migrationChecksumMismatch(
                    "migration \(set.schema)/\(set.track) version \(migration.paddedVersion) (\(migration.source)) "
                        + "was changed after it was applied: applied checksum \(record.checksum), "
                        + "file checksum \(migration.checksum). Released migrations must never be edited; "
                        + "add a new migration instead")
            }
        }
        let appliedVersions = Set(applied.map(\.version))
        let pending = set.migrations.filter { !appliedVersions.contains($0.version) }
        if let newestApplied = appliedVersions.max(), let early = pending.first(where: { $0.version < newestApplied }) {
            throw ComplaintStoreError.migrationOutOfOrder(
                "migration \(set.schema)/\(set.track) version \(early.paddedVersion) (\(early.source)) is not applied "
                    + "but version \(newestApplied) already is; give it a version above \(newestApplied)")
        }
        return pending
    }

    /// Runs `migration`, again with backoff while it times out waiting for a table lock (SQLSTATE 55P03).
    private func run(_ migration: Migration, of set: MigrationSet, on connection: PostgresConnection) async throws {
        var attempt = 1
        var backoff = self.configuration.lockTimeoutBackoff
        while true {
            do {
                return try await self.runOnce(migration, of: set, on: connection)
            } catch let error as ComplaintStoreError
                where PostgresErrorClassifier.sqlState(of: error) == "55P03" && attempt < self.configuration.lockTimeoutAttempts {
                self.logger.warning(
                    "Migration waited longer than lock_timeout for a table lock (another session holds the table); rolled back, trying again",
                    metadata: [
                        "schema": "\(set.schema)", "track": "\(set.track)", "version": "\(migration.paddedVersion)",
                        "attempt": "\(attempt)", "lock_timeout": "\(self.configuration.statementLockTimeout)", "retry_in": "\(backoff)",
                    ])
                try await Task.sleep(for: backoff)
                attempt += 1
                backoff *= 2
            }
        }
    }

    private func runOnce(_ migration: Migration, of set: MigrationSet, on connection: PostgresConnection) async throws {
        let statements = SQLScript.statements(in: migration.sql)
        let start = ContinuousClock.now
        var statementNumber = 0
        do {
            try await connection.transaction(logger: self.logger) { connection in
                try await connection.query(
                    PostgresQuery(unsafeSQL: "CREATE SCHEMA IF NOT EXISTS \(set.schema)"),
                    logger: self.logger
                )
                try await connection.query(
                    PostgresQuery(unsafeSQL: "SET LOCAL search_path TO \(set.schema), public"),
                    logger: self.logger
                )
                try await connection.query(
                    PostgresQuery(unsafeSQL: "SET LOCAL lock_timeout = '\(max(1, self.configuration.statementLockTimeout.milliseconds))ms'"),
                    logger: self.logger
                )
                for statement in statements {
                    statementNumber += 1
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: self.logger)
                }
                statementNumber = 0
                try await connection.query(
                    """
                    INSERT INTO \(unescaped: self.ledger) (schema, track, version, name, checksum)
                    VALUES (\(set.schema.rawValue), \(set.track), \(migration.version), \(migration.name), \
                    \(migration.checksum))
                    """,
                    logger: self.logger
                )
            }
        } catch {
            let location = statementNumber > 0 ? " at statement \(statementNumber) of \(statements.count)" : ""
            throw ComplaintStoreError.migrationFailed(
                "migration \(set.schema)/\(set.track) version \(migration.paddedVersion) (\(migration.source)) "
                    + "failed\(location): \(String(reflecting: error))",
                underlying: error
            )
        }
        self.logger.info(
            "Applied migration",
            metadata: [
                "schema": "\(set.schema)", "track": "\(set.track)", "version": "\(migration.paddedVersion)",
                "name": "\(migration.name)", "duration": "\(ContinuousClock.now - start)",
            ]
        )
    }

    private func createLedgerIfNeeded(on connection: PostgresConnection) async throws {
        try await connection.query(
            PostgresQuery(unsafeSQL: "CREATE SCHEMA IF NOT EXISTS \(self.configuration.ledgerSchema)"),
            logger: self.logger
        )
        try await connection.query(
            PostgresQuery(unsafeSQL: """
                CREATE TABLE IF NOT EXISTS \(self.ledger) (
                    schema     text        NOT NULL,
                    track      text        NOT NULL,
                    version    integer     NOT NULL,
                    name       text        NOT NULL,
                    checksum   text        NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (schema, track, version)
                )
                """),
            logger: self.logger
        )
    }

    private func appliedMigrations(
        schema: SchemaName,
        track: String,
        on connection: PostgresConnection
    ) async throws -> [AppliedMigration] {
        let rows = try await connection.query(
            """
            SELECT version, name, checksum, applied_at FROM \(unescaped: self.ledger)
            WHERE schema = \(schema.rawValue) AND track = \(track) ORDER BY version
            """,
            logger: self.logger
        )
        var result: [AppliedMigration] = []
        for try await (version, name, checksum, appliedAt) in rows.decode((Int, String, String, Date).self) {
            result.append(AppliedMigration(
                schema: schema, track: track, version: version, name: name, checksum: checksum, appliedAt: appliedAt))
        }
        return result
    }

    /// Holds the session-level advisory lock while `body` runs, polling (not blocking a server backend) while
    /// another migrator holds it.
    private func withMigrationLock<Result>(
        on connection: PostgresConnection,
        _ body: () async throws -> Result
    ) async throws -> Result {
        let deadline = ContinuousClock.now + self.configuration.lockTimeout
        var waiting = false
        while true {
            let rows = try await connection.query(
                "SELECT pg_try_advisory_lock(\(Self.advisoryLockKey))",
                logger: self.logger
            ).collect()
            if try rows.first?.decode(Bool.self) == true {
                break
            }
            if !waiting {
                self.logger.info("Waiting for another migrator to finish")
                waiting = true
            }
            guard ContinuousClock.now < deadline else {
                throw ComplaintStoreError.migrationLockTimeout(
                    "another migrator held the migration lock for more than \(self.configuration.lockTimeout)")
            }
            try await Task.sleep(for: self.configuration.lockPollInterval)
        }

        let result: Result
        do {
            result = try await body()
        } catch {
            await self.releaseMigrationLock(on: connection)
            throw error
        }
        await self.releaseMigrationLock(on: connection)
        return result
    }

    private func releaseMigrationLock(on connection: PostgresConnection) async {
        do {
            try await connection.query("SELECT pg_advisory_unlock(\(Self.advisoryLockKey))", logger: self.logger)
        } catch {
            // The lock dies with the session; a broken connection is closed by the pool.
            self.logger.debug("Could not release the migration lock", metadata: ["error": "\(String(reflecting: error))"])
        }
    }
}
