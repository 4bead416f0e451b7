import ComplaintStore
import Foundation

/// The shared `access` schema (API keys, roles, hotel scopes) and the migrations that create it.
///
/// It is the one exception to "a service writes only its own schema": every service's HTTP API
/// reads it, and only the access layer (``APIKeyStore``) and `redress apikey` write it. Each service
/// applies these migrations before its own.
public enum AccessTables {
    /// The schema's name.
    public static let schema: SchemaName = "access"

    /// The migrations of the access schema, shipped in this module's resources.
    /// - Throws: A ``ComplaintStore/ComplaintStoreError`` if the resource folder is missing.
    public static func migrations(schema: SchemaName = AccessTables.schema) throws -> MigrationSet {
        guard let folder = Bundle.module.url(forResource: "Migrations", withExtension: nil) else {
            throw AccessSetupError(description: "the Access resource bundle has no Migrations folder (\(Bundle.module.bundlePath))")
        }
        return try .directory(folder, schema: schema)
    }
}

/// The access layer cannot be set up (its migrations are missing from the installation).
public struct AccessSetupError: Error, CustomStringConvertible, Hashable {
    public var description: String
}
