import ComplaintPipeline
import Configuration
import Foundation

/// The metrics service's own settings (besides ``ComplaintPipeline/ServiceSettings``), from environment
/// variables or the service's JSON file (`services/metrics/metrics.json` or `REDRESS_CONFIG_FILE`):
///
/// | environment | key | default |
/// | --- | --- | --- |
/// | `METRICS_FILE` | `metrics.file` | `services/metrics/metrics.yaml`, found from the working directory, `REDRESS_HOME` or the executable's folder |
/// | `METRICS_FILE_RELOAD_SECONDS` | `metrics.file.reload.seconds` | 5: how often the running service looks at the file again |
/// | `METRICS_DASHBOARD` | `metrics.dashboard` | `services/metrics/dashboard`: the dashboard's HTML, CSS and JavaScript |
/// | `METRICS_GAUGE_SECONDS` | `metrics.gauge.seconds` | 15: how often the KPI gauges on `/metrics` are recomputed |
/// | `METRICS_LIVE_HEARTBEAT_SECONDS` | `metrics.live.heartbeat.seconds` | 15: how often `/v1/live` sends a heartbeat and checks its key again |
/// | `METRICS_LIVE_STREAMS_PER_KEY` | `metrics.live.streams.per.key` | 5: `/v1/live` streams one key may have open |
/// | `METRICS_LIVE_STREAMS` | `metrics.live.streams` | 500: `/v1/live` streams the process serves at once |
public struct MetricsConfiguration: Sendable, Hashable {
    public var file: String
    public var reloadInterval: Duration
    public var dashboardFolder: String
    public var gaugeInterval: Duration
    public var liveHeartbeat: Duration = .seconds(15)
    public var liveLimits = LiveFeed.Limits()

    public init(
        file: String = MetricsFile.defaultPath, reloadInterval: Duration = .seconds(5), dashboardFolder: String = Dashboard.defaultFolder,
        gaugeInterval: Duration = .seconds(15)
    ) {
        self.file = file
        self.reloadInterval = reloadInterval
        self.dashboardFolder = dashboardFolder
        self.gaugeInterval = gaugeInterval
    }

    /// A setting that cannot be used; names the variable.
    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads the settings through swift-configuration like every service: environment first, then the
    /// service's JSON file, then the defaults.
    public static func load(
        environment: [String: String] = ProcessInfo.processInfo.environment, configurationFile: String? = nil
    ) async throws -> MetricsConfiguration {
        let config = try await ServiceSettings.configReader(for: .metrics, environment: environment, configurationFile: configurationFile)
        var configuration = MetricsConfiguration()
        configuration.file = config.string(forKey: "metrics.file").flatMap { $0.isEmpty ? nil : $0 }
            ?? ServiceFiles.locate(MetricsFile.defaultPath, environment: environment)
        configuration.dashboardFolder = config.string(forKey: "metrics.dashboard").flatMap { $0.isEmpty ? nil : $0 }
            ?? ServiceFiles.locate(Dashboard.defaultFolder, environment: environment)
        func seconds(_ key: ConfigKey, _ variable: String, _ range: ClosedRange<Double>) throws -> Duration? {
            guard let text = config.string(forKey: key), !text.isEmpty else { return nil }
            guard let value = Double(text), range.contains(value) else {
                throw Invalid(description: "\(variable) '\(text)' is not a number of seconds in \(range.lowerBound)…\(range.upperBound)")
            }
            return .milliseconds(Int64(value * 1000))
        }
        configuration.reloadInterval = try seconds("metrics.file.reload.seconds", "METRICS_FILE_RELOAD_SECONDS", 0.1...3600)
            ?? configuration.reloadInterval
        configuration.gaugeInterval = try seconds("metrics.gauge.seconds", "METRICS_GAUGE_SECONDS", 1...3600) ?? configuration.gaugeInterval
        configuration.liveHeartbeat = try seconds("metrics.live.heartbeat.seconds", "METRICS_LIVE_HEARTBEAT_SECONDS", 1...300)
            ?? configuration.liveHeartbeat
        func count(_ key: ConfigKey, _ variable: String) throws -> Int? {
            guard let text = config.string(forKey: key), !text.isEmpty else { return nil }
            guard let value = Int(text), (1...100_000).contains(value) else {
                throw Invalid(description: "\(variable) '\(text)' is not a whole number in 1…100000")
            }
            return value
        }
        configuration.liveLimits.perKey = try count("metrics.live.streams.per.key", "METRICS_LIVE_STREAMS_PER_KEY") ?? configuration.liveLimits.perKey
        configuration.liveLimits.total = try count("metrics.live.streams", "METRICS_LIVE_STREAMS") ?? configuration.liveLimits.total
        return configuration
    }
}
