import ArgumentParser
import EmbeddedDefault
import Foundation
import Logging

/// Reads environment variables, treating empty values as unset (as Compose `env_file`s produce).
enum ProcessInfoEnvironment {
    /// The environment's `name`, unless it is a run variable (`KAFKA_BROKERS`, `DATABASE_URL`) the shell
    /// still has as it sourced an `up.env` (``shellHasSourcedValues``): then that file's value now. Each
    /// `redress up` picks new ports for its broker and database, so the shell's copy goes stale at the next
    /// restart; a value set since sourcing (`DATABASE_URL=… redress migrate`) is the caller's and wins.
    static func value(_ name: String) -> String? {
        if UpEnvironmentFile.runVariables.contains(name), shellHasSourcedValues, let path = sourcedUpEnvironment,
           let file = UpEnvironmentFile.read(from: path), let fresh = file.value(of: name), !fresh.isEmpty
        {
            return fresh
        }
        return raw(name)
    }

    private static func raw(_ name: String) -> String? {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { return nil }
        return value
    }

    /// The `up.env` the shell sourced, if it did.
    static var sourcedUpEnvironment: String? { raw(UpEnvironmentFile.sourcedVariable) }

    /// Whether the shell's run variables are still the ones it sourced from an `up.env` (their digest is
    /// the file's at the time), rather than set since.
    static var shellHasSourcedValues: Bool {
        guard let digest = raw(UpEnvironmentFile.digestVariable) else { return false }
        return UpEnvironmentFile.digest(of: raw) == digest
    }

    /// For `redress up` itself: the environment's `name`, unless the shell has it as it sourced an `up.env`
    /// (the previous run's embedded broker or database, gone with it): then nil, and the embedded default starts.
    static func external(_ name: String, logger: Logger) -> String? {
        guard let value = raw(name) else { return nil }
        if shellHasSourcedValues {
            logger.warning("\(name) comes from a sourced up.env (\(UpEnvironmentFile.sourcedVariable)); starting the embedded default instead")
            return nil
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

    /// The topic prefix an operator tool reads and writes under: the option given (`''` for none), else
    /// `KAFKA_TOPIC_PREFIX`, as the services started in the same shell use it, else none.
    static func topicPrefix(_ given: String?) -> String {
        given ?? raw("KAFKA_TOPIC_PREFIX") ?? ""
    }

    /// The same, for a setting that has a default of its own: nil when none of the three gives it.
    static func setting(_ given: String?, variable: String, dataDir: String) -> String? {
        given ?? value(variable) ?? UpEnvironmentFile.read(from: dataDir + "/up.env")?.value(of: variable)
    }
}
