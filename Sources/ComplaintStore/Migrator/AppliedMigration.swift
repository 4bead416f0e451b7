import Foundation

/// A row of the migration ledger: a migration that has been applied.
public struct AppliedMigration: Sendable, Hashable {
    /// The schema the migration acted on.
    public var schema: SchemaName
    /// The version sequence inside the schema.
    public var track: String
    /// The migration's version.
    public var version: Int
    /// The migration's name.
    public var name: String
    /// The SHA-256 of the SQL that was applied.
    public var checksum: String
    /// When it was applied.
    public var appliedAt: Date
}
