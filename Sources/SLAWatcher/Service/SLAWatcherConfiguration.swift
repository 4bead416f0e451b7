import ComplaintPipeline
import Configuration
import Foundation

/// The watcher's own settings (besides ``ComplaintPipeline/ServiceSettings``), from environment variables
/// or the service's JSON file (`services/sla-watcher/sla-watcher.json` or `REDRESS_CONFIG_FILE`):
///
/// | environment | key | default |
/// | --- | --- | --- |
/// | `SLA_POLICY_FILE` | `sla.policy.file` | `services/sla-watcher/policies.yaml`, found from the working directory, `REDRESS_HOME` or the executable's folder |
/// | `SLA_POLICY_RELOAD_SECONDS` | `sla.policy.reload.seconds` | 5: how often the running service looks at the file again |
/// | `SLA_TIME_SCALE` | `sla.time.scale` | 1; a demo or test speed: durations divided by it, calendars 24x7 |
public struct SLAWatcherConfiguration: Sendable, Hashable {
    public var policyFile: String
    public var reloadInterval: Duration
    public var timeScale: Double = 1

    public init(policyFile: String = PolicyFile.defaultPath, reloadInterval: Duration = .seconds(5)) {
        self.policyFile = policyFile
        self.reloadInterval = reloadInterval
    }

    /// A setting that cannot be used; names the variable.
    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads the settings through swift-configuration like every service: environment first, then the
    /// service's JSON file, then the defaults.
    public static func load(
        environment: [String: String] = ProcessInfo.processInfo.environment, configurationFile: String? = nil
    ) async throws -> SLAWatcherConfiguration {
        let config = try await ServiceSettings.configReader(for: .slaWatcher, environment: environment, configurationFile: configurationFile)
        var configuration = SLAWatcherConfiguration()
        configuration.policyFile = config.string(forKey: "sla.policy.file").flatMap { $0.isEmpty ? nil : $0 }
            ?? ServiceFiles.locate(PolicyFile.defaultPath, environment: environment)
        if let text = config.string(forKey: "sla.policy.reload.seconds"), !text.isEmpty {
            guard let seconds = Double(text), (0.1...3600).contains(seconds) else {
                throw Invalid(description: "SLA_POLICY_RELOAD_SECONDS '\(text)' is not a number of seconds in 0.1…3600")
            }
            configuration.reloadInterval = .milliseconds(Int64(seconds * 1000))
        }
        if let text = config.string(forKey: "sla.time.scale"), !text.isEmpty {
            guard let scale = Double(text), (1...100_000).contains(scale) else {
                throw Invalid(description: "SLA_TIME_SCALE '\(text)' is not a speed factor in 1…100000")
            }
            configuration.timeScale = scale
        }
        return configuration
    }
}
