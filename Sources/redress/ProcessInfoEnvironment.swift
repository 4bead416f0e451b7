import ArgumentParser
import EmbeddedDefault
import Foundation
import Logging

/// Reads environment variables, treating empty values as unset (as Compose `env_file`s produce).
enum ProcessInfoEnvironment {
    /// The environment's `name`, unless it came from sourcing an `up.env` (`REDRESS_UP_ENV` names the
    /// file): then that file's value now. Each `redress up` picks new ports for its broker and database,
    /// so the shell's copy goes stale at the next restart and would otherwise win.
    static func value(_ name: String) -> String? {
        if let path = sourcedUpEnvironment, let file = UpEnvironmentFile.read(from: path), let fresh = file.value(of: name), !fresh.isEmpty {
            return fresh
        }
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { return nil }
        return value
    }

    /// The `up.env` the shell sourced, if it did.
    static var sourcedUpEnvironment: String? {
        ProcessInfo.processInfo.environment[UpEnvironmentFile.sourcedVariable].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// For `redress up` itself: the environment's `name`, unless it is what a sourced `up.env` set (the
    /// previous run's embedded broker or database, gone with it): then nil, and the embedded default starts.
    static func external(_ name: String, logger: Logger) -> String? {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { return nil }
        if let path = sourcedUpEnvironment {
            let file = UpEnvironmentFile.read(from: path)
            if file == nil || file?.value(of: name) == value {
                logger.warning("\(name) comes from a sourced up.env (\(UpEnvironmentFile.sourcedVariable)); starting the embedded default instead")
                return nil
            }
        }
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
