import ArgumentParser
import EmbeddedDefault
import Foundation

/// Reads environment variables, treating empty values as unset (as Compose `env_file`s produce).
enum ProcessInfoEnvironment {
    static func value(_ name: String) -> String? {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { return nil }
        return value
    }

    /// An operator tool's setting: the option given, else the environment variable, else what
    /// `redress up` wrote to `<dataDir>/up.env`.
    /// - Throws: A `ValidationError` saying the three ways to give it (`what` names it, e.g. "Kafka").
    static func setting(_ given: String?, variable: String, option: String, dataDir: String, what: String) throws -> String {
        guard let found = setting(given, variable: variable, dataDir: dataDir) else {
            throw ValidationError("no \(what): pass \(option), set \(variable), or start `redress up` (it writes \(dataDir)/up.env)")
        }
        return found
    }

    /// The same, for a setting that has a default of its own: nil when none of the three gives it.
    static func setting(_ given: String?, variable: String, dataDir: String) -> String? {
        given ?? value(variable) ?? UpEnvironmentFile.read(from: dataDir + "/up.env")?.value(of: variable)
    }
}
