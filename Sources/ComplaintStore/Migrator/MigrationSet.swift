import Foundation

/// An ordered list of migrations for one database schema, as one service ships them.
///
/// The ledger (``Migrator``) keys applied migrations by `(schema, track, version)`. The *track* lets one schema
/// hold independent version sequences: a service's own tables (track `main`) and the shared inbox/outbox
/// tables instantiated from a template (track `runtime`, see ``RuntimeTables``) evolve separately.
///
/// Sources:
/// - ``directory(_:schema:track:substitutions:)`` — any folder: a service's own `services/<name>/migrations/`.
/// - The runtime template shipped in this module (``RuntimeTables/migrations()``).
/// - ``init(schema:track:migrations:)`` — migrations built in code.
public struct MigrationSet: Sendable, Hashable {
    /// The track of a service's own migrations.
    public static let mainTrack = "main"

    /// The schema the migrations act on. The migrator creates it if needed and puts it first on the
    /// `search_path` while a migration runs, so files may use unqualified names.
    public let schema: SchemaName
    /// The version sequence inside the schema (`main`, `runtime`, …).
    public let track: String
    /// The migrations, sorted by version, versions unique.
    public let migrations: [Migration]

    /// Creates a set from migrations built in code.
    ///
    /// - Throws: A ``ComplaintStoreError`` (``ComplaintStoreError/Code/invalidMigration``) if two migrations share a
    ///   version or the track name is not a plain identifier.
    public init(schema: SchemaName, track: String = MigrationSet.mainTrack, migrations: [Migration]) throws {
        guard (try? SchemaName(track)) != nil else {
            throw ComplaintStoreError.invalidMigration("track name '\(track)' must use only a-z, 0-9 and _")
        }
        let sorted = migrations.sorted { $0.version < $1.version }
        for (previous, next) in zip(sorted, sorted.dropFirst()) where previous.version == next.version {
            throw ComplaintStoreError.invalidMigration(
                "\(schema)/\(track): version \(next.paddedVersion) appears twice (\(previous.source) and \(next.source))")
        }
        self.schema = schema
        self.track = track
        self.migrations = sorted
    }

    /// Loads `<NNNN>_<name>.sql` files from `directory`.
    ///
    /// Files not ending in `.sql` (a README, say) are ignored; a `.sql` file whose name does not follow the pattern is
    /// an error, so a misnamed migration is never silently skipped.
    ///
    /// - Parameters:
    ///   - directory: The folder holding the files.
    ///   - schema: The schema the files act on.
    ///   - track: The version sequence inside the schema.
    ///   - substitutions: Placeholders to replace in the SQL text before checksumming, as `{{key}}` → value.
    ///     `{{schema}}` is always replaced by `schema`.
    /// - Throws: A ``ComplaintStoreError`` if the folder cannot be read or a file is misnamed or duplicated.
    public static func directory(
        _ directory: URL,
        schema: SchemaName,
        track: String = MigrationSet.mainTrack,
        substitutions: [String: String] = [:]
    ) throws -> MigrationSet {
        let fileNames: [String]
        do {
            fileNames = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw ComplaintStoreError.invalidMigration("cannot read migration folder \(directory.path): \(error)")
        }
        var replacements = substitutions
        replacements["schema"] = schema.rawValue

        var migrations: [Migration] = []
        for fileName in fileNames.sorted() where fileName.hasSuffix(".sql") {
            guard let (version, name) = Migration.parseFileName(fileName) else {
                throw ComplaintStoreError.invalidMigration(
                    "migration file \(directory.path)/\(fileName) is not named <NNNN>_<name>.sql "
                        + "(at least four digits, then a-z, 0-9 or _)")
            }
            let path = directory.appendingPathComponent(fileName).path
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ComplaintStoreError.invalidMigration("cannot read migration file \(path)")
            }
            guard var sql = String(data: data, encoding: .utf8) else {
                throw ComplaintStoreError.invalidMigration("migration file \(path) is not valid UTF-8")
            }
            for (key, value) in replacements {
                sql = sql.replacingOccurrences(of: "{{\(key)}}", with: value)
            }
            if let unresolved = sql.range(of: #"\{\{[A-Za-z_]+\}\}"#, options: .regularExpression) {
                throw ComplaintStoreError.invalidMigration(
                    "migration file \(path) has an unresolved placeholder \(sql[unresolved])")
            }
            migrations.append(Migration(version: version, name: name, sql: sql, source: path))
        }
        return try MigrationSet(schema: schema, track: track, migrations: migrations)
    }

    /// The SQL templates in `Migrations/_templates/<template>/`, instantiated for `schema` on track `template`.
    static func bundledTemplate(_ template: String, schema: SchemaName) throws -> MigrationSet {
        let folder = try bundledMigrationsRoot()
            .appendingPathComponent("_templates", isDirectory: true)
            .appendingPathComponent(template, isDirectory: true)
        guard FileManager.default.fileExists(atPath: folder.path) else {
            throw ComplaintStoreError.invalidMigration("ComplaintStore ships no migration template '\(template)'")
        }
        return try .directory(folder, schema: schema, track: template)
    }

    private static func bundledMigrationsRoot() throws -> URL {
        guard let root = Bundle.module.url(forResource: "Migrations", withExtension: nil) else {
            throw ComplaintStoreError.invalidMigration("the ComplaintStore resource bundle has no Migrations folder")
        }
        return root
    }
}
