import Foundation

/// A PostgreSQL server installation on this machine: the folder with `initdb` and `postgres`, and its major
/// version.
///
/// Found in this order: an explicit folder; `pg_config --bindir`; Debian's `/usr/lib/postgresql/<major>/bin`
/// (newest first); `/usr/local/pgsql/bin`; then every `PATH` entry. A candidate counts only if it has both
/// executables, because `pg_config` (from libpq-dev) can belong to a different version than the server, and
/// Debian's `/usr/bin` has wrappers, not `initdb`.
public struct PostgresInstallation: Sendable, Hashable {
    /// The folder holding the executables.
    public let binDirectory: String
    /// The major version (`15`).
    public let majorVersion: Int
    /// The full `postgres --version` output.
    public let versionDescription: String

    /// The `initdb` executable.
    public var initdb: String { "\(self.binDirectory)/initdb" }
    /// The `postgres` server executable.
    public var postgres: String { "\(self.binDirectory)/postgres" }

    /// Finds an installation.
    ///
    /// - Parameter binDirectory: Use this folder and nothing else.
    /// - Throws: A ``EmbeddedPostgresError`` with code ``EmbeddedPostgresError/Code/unavailable`` listing
    ///   the folders tried.
    public static func locate(binDirectory: String? = nil) async throws -> PostgresInstallation {
        var tried: [String] = []
        for candidate in try await Self.candidates(explicit: binDirectory) {
            guard !tried.contains(candidate) else { continue }
            tried.append(candidate)
            guard POSIX.isExecutable("\(candidate)/initdb"), POSIX.isExecutable("\(candidate)/postgres") else {
                continue
            }
            let version = try await ProgramRun.run("\(candidate)/postgres", ["--version"], limit: 64 * 1024)
            guard version.succeeded, let major = Self.majorVersion(fromVersionOutput: version.output) else {
                continue
            }
            return PostgresInstallation(
                binDirectory: candidate,
                majorVersion: major,
                versionDescription: version.output.trimmingTrailingNewlines()
            )
        }
        throw EmbeddedPostgresError.unavailable(
            "no PostgreSQL server installation found (looked for initdb and postgres in: "
                + "\(tried.joined(separator: ", "))); install it (Debian: apt-get install postgresql) "
                + "or point the configuration's binDirectory at its bin folder")
    }

    /// Parses `postgres (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)` (and `9.6.24`) into the major version.
    static func majorVersion(fromVersionOutput output: String) -> Int? {
        guard let range = output.range(of: "(PostgreSQL) ") else { return nil }
        let digits = output[range.upperBound...].prefix { $0.isNumber || $0 == "." }
        let parts = digits.split(separator: ".")
        guard let first = parts.first.flatMap({ Int($0) }) else { return nil }
        if first < 10, parts.count > 1, let second = Int(parts[1]) {
            return first * 100 + second
        }
        return first
    }

    private static func candidates(explicit: String?) async throws -> [String] {
        if let explicit {
            return [explicit]
        }
        var candidates: [String] = []
        let path = ProcessInfo.processInfo.environment["PATH"]
        if let pgConfig = POSIX.findInPath("pg_config", path: path),
            let result = try? await ProgramRun.run(pgConfig, ["--bindir"], limit: 64 * 1024), result.succeeded
        {
            candidates.append(result.output.trimmingTrailingNewlines())
        }
        let debianRoot = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: debianRoot)) ?? []
        for version in versions.compactMap({ Int($0) }).sorted(by: >) {
            candidates.append("\(debianRoot)/\(version)/bin")
        }
        candidates.append("/usr/local/pgsql/bin")
        for directory in (path ?? "").split(separator: ":") where !directory.isEmpty {
            candidates.append(String(directory))
        }
        return candidates
    }
}
