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
/// | `SLA_RETENTION_DAYS` | `sla.retention.days` | 90: clocks of complaints closed (or resolved, follow-up fired) this long ago go, with their timers; 0 keeps them for ever |
/// | `SLA_FIRING_GRACE_SECONDS` | `sla.firing.grace.seconds` | 5: a timer due at D fires once the input topics are applied up to D plus this (an action taken just before a deadline may still be on its way) |
public struct SLAWatcherConfiguration: Sendable, Hashable {
    public var policyFile: String
    public var reloadInterval: Duration
    public var timeScale: Double = 1
    /// How long the clock of a complaint that is over is kept (``ClockPurge``); `nil`: for ever.
    public var retention: Duration? = ClockPurge.defaultRetention
    /// How long after its due time a timer waits for the input to be applied (``InputWatermark/Configuration/grace``).
    public var firingGrace: Duration = InputWatermark.Configuration().grace

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
        if let text = config.string(forKey: "sla.retention.days"), !text.isEmpty {
            guard let days = Int(text), (0...3650).contains(days) else {
                throw Invalid(description: "SLA_RETENTION_DAYS '\(text)' is not a whole number of days in 0…3650 (0 keeps clocks for ever)")
            }
            configuration.retention = days == 0 ? nil : .seconds(days * 86_400)
        }
        if let text = config.string(forKey: "sla.firing.grace.seconds"), !text.isEmpty {
            guard let seconds = Double(text), (0...3600).contains(seconds) else {
                throw Invalid(description: "SLA_FIRING_GRACE_SECONDS '\(text)' is not a number of seconds in 0…3600")
            }
            configuration.firingGrace = .milliseconds(Int64(seconds * 1000))
        }
        return configuration
    }
}
