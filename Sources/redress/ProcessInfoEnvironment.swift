import Foundation

/// Reads environment variables, treating empty values as unset (as Compose `env_file`s produce).
enum ProcessInfoEnvironment {
    static func value(_ name: String) -> String? {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { return nil }
        return value
    }
}
