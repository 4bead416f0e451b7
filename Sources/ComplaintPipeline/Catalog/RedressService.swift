import Foundation
import ComplaintStore

/// The services of Redress, in start order: executable, PostgreSQL schema and development HTTP port.
///
/// One catalog, so that `redress migrate`, `redress up`, the Compose file and the docs agree on names.
public struct RedressService: Sendable, Hashable {
    /// Short name, as in logs and metrics (`intake`).
    public let name: String
    /// The executable (`redress-intake`); also the consumer group id and the Compose service name.
    public let executable: String
    /// The service's own schema (a service writes only there).
    public let schema: SchemaName
    /// HTTP port under the embedded default (`redress up`).
    public let developmentPort: Int

    /// The folder of the service's own migrations, relative to the Redress home
    /// (`services/<name>/migrations`; see ``ServiceFiles``).
    public let migrationFolder: String

    /// A service description; Redress's own are the constants below. Tests give a service a schema
    /// of their own and keep `migrationFolder` pointing at the real service's migrations.
    public init(name: String, executable: String, schema: SchemaName, developmentPort: Int, migrationFolder: String? = nil) {
        self.name = name
        self.executable = executable
        self.schema = schema
        self.developmentPort = developmentPort
        self.migrationFolder = migrationFolder ?? "services/\(name)/migrations"
    }

    /// The `up.env` variable holding the service's base URL (`INTAKE_URL`).
    public var urlVariable: String {
        name.uppercased().replacingOccurrences(of: "-", with: "_") + "_URL"
    }

    public static let intake = RedressService(name: "intake", executable: "redress-intake", schema: "intake", developmentPort: 8081)
    public static let classifier = RedressService(name: "classifier", executable: "redress-classifier", schema: "classifier", developmentPort: 8082)
    public static let assignment = RedressService(name: "assignment", executable: "redress-assignment", schema: "assignment", developmentPort: 8083)
    public static let slaWatcher = RedressService(name: "sla-watcher", executable: "redress-sla-watcher", schema: "sla", developmentPort: 8084)
    public static let notifier = RedressService(name: "notifier", executable: "redress-notifier", schema: "notifier", developmentPort: 8085)
    public static let metrics = RedressService(name: "metrics", executable: "redress-metrics", schema: "metrics", developmentPort: 8086)

    /// Every service, in start order.
    public static let all: [RedressService] = [intake, classifier, assignment, slaWatcher, notifier, metrics]

    /// The migrations of this service's schema: its runtime tables (inbox, outbox, work queue), then
    /// the service's own tables from ``migrationFolder``.
    ///
    /// - Parameter requireOwn: Fail when the service's own folder is missing (a service at start);
    ///   `false` skips it (`redress migrate` before a service is built).
    /// - Throws: A ``MissingMigrations`` naming the folder and where it was looked for.
    public func migrations(requireOwn: Bool = true) throws -> [MigrationSet] {
        var sets = [try RuntimeTables(schema: schema).migrations()]
        if let folder = ServiceFiles.locateFolder(migrationFolder) {
            sets.append(try MigrationSet.directory(folder, schema: schema))
        } else if requireOwn {
            throw MissingMigrations(service: name, folder: migrationFolder, searched: ServiceFiles.candidates(migrationFolder))
        }
        return sets
    }
}

/// A service's migrations folder is nowhere to be found: it refuses to start rather than run
/// without its tables.
public struct MissingMigrations: Error, CustomStringConvertible, Hashable {
    public var service: String
    public var folder: String
    public var searched: [String]

    public var description: String {
        "\(service): migrations folder \(folder) not found (looked in \(searched.joined(separator: ", "))); "
            + "run from the Redress folder or set REDRESS_HOME to the folder that holds services/"
    }
}
