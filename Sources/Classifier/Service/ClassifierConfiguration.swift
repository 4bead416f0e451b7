import ComplaintPipeline
import Configuration
import Foundation

/// The classifier's own settings (besides ``ComplaintPipeline/ServiceSettings``), from environment
/// variables or the service's configuration file (see ``load(environment:configurationFile:)``):
///
/// | environment | default |
/// | --- | --- |
/// | `CLASSIFIER_RULES_FILE` | `services/classifier/rules.yaml`, found from the working directory, `REDRESS_HOME` or the executable's folder |
/// | `CLASSIFIER_MODEL_FILE` | `services/classifier/model/model.json`, found the same way |
/// | `CLASSIFIER_PLUGINS` | `keyword,logistic` (plus `http` when `CLASSIFIER_EXTERNAL_URL` is set) |
/// | `CLASSIFIER_EXTERNAL_URL` | unset; `https://`, or `http://` only to a loopback address |
/// | `CLASSIFIER_EXTERNAL_TOKEN` | unset (sent as `Authorization: Bearer <token>`) |
/// | `CLASSIFIER_EXTERNAL_TIMEOUT_MS` | `300` |
/// | `CLASSIFIER_EXTERNAL_WEIGHT` | `3` |
/// | `CLASSIFIER_REVIEW_THRESHOLD` | `0.45` (confidence below which `needsHumanReview` is set) |
/// | `CLASSIFIER_SERIOUS_THRESHOLD` | `0.35` (probability of `serious` from which an unsure complaint is `serious`, for review) |
/// | `CLASSIFIER_RETENTION_DAYS` | `90`: verdicts (and their staff corrections) unchanged this long go, guest history after the repeat window plus the inbox's age and a day (40 days); `0` keeps everything for ever; else 30…3650 (``ClassifierRetention``) |
public struct ClassifierConfiguration: Sendable, Hashable {
    public var rulesFile: String
    public var modelFile: String
    public var plugins: [String]
    public var externalURL: String?
    /// Sent to the external model as a bearer token.
    public var externalToken: String?
    public var externalTimeout: Duration
    public var externalWeight: Double
    /// Put before every `Idempotency-Key` the external model is sent (``HTTPClassifier/keyScope``): unset live;
    /// `redress replay classifier --with-external` sets its own, so a replay never reuses the live calls' answers.
    /// Not read from the environment.
    public var externalKeyScope: String?
    public var keywordWeight: Double
    public var modelWeight: Double
    public var modelTemperature: Double
    public var reviewThreshold: Double
    public var seriousThreshold: Double
    /// How long verdicts, corrections and guest history are kept (``ClassifierRetention``).
    public var retention = ClassifierRetention.Configuration()

    public static let defaultRulesPath = "services/classifier/rules.yaml"
    public static let defaultModelPath = "services/classifier/model/model.json"
    /// Chosen on the training data's validation split (README, "Cost-aware severity").
    public static let defaultSeriousThreshold = 0.35

    public init(
        rulesFile: String = ClassifierConfiguration.defaultRulesPath, modelFile: String = ClassifierConfiguration.defaultModelPath,
        plugins: [String] = ["keyword", "logistic"], externalURL: String? = nil, externalTimeout: Duration = .milliseconds(300),
        externalWeight: Double = 3, keywordWeight: Double = 0.35, modelWeight: Double = 1, modelTemperature: Double = 1,
        reviewThreshold: Double = 0.45, seriousThreshold: Double = ClassifierConfiguration.defaultSeriousThreshold
    ) {
        self.rulesFile = rulesFile
        self.modelFile = modelFile
        self.plugins = plugins
        self.externalURL = externalURL
        self.externalTimeout = externalTimeout
        self.externalWeight = externalWeight
        self.keywordWeight = keywordWeight
        self.modelWeight = modelWeight
        self.modelTemperature = modelTemperature
        self.reviewThreshold = reviewThreshold
        self.seriousThreshold = seriousThreshold
    }

    /// Whether `host` (from a URL) names this machine.
    static func isLoopback(_ host: String) -> Bool {
        let host = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if host == "localhost" || host == "::1" { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }

    /// A comma-separated list of plugin names (`keyword,logistic`), or an error naming `variable` when
    /// it names none (`","`): a classifier without plugins calls every complaint `other`.
    public static func pluginList(_ text: String, variable: String) throws -> [String] {
        let names = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !names.isEmpty else { throw Invalid(description: "\(variable) '\(text)' names no plugin (e.g. keyword,logistic)") }
        return names
    }

    /// A setting that cannot be used; names the variable.
    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads the settings through swift-configuration like every service: environment variables
    /// first, then the service's JSON file (`services/classifier/classifier.json` or
    /// `REDRESS_CONFIG_FILE`: keys `classifier.rules.file`, `classifier.plugins`, …), then the defaults.
    /// Relative default paths are found with ``ComplaintPipeline/ServiceFiles``.
    public static func load(
        environment: [String: String] = ProcessInfo.processInfo.environment, configurationFile: String? = nil
    ) async throws -> ClassifierConfiguration {
        let config = try await ServiceSettings.configReader(for: .classifier, environment: environment, configurationFile: configurationFile)
        func value(_ key: ConfigKey) -> String? { config.string(forKey: key).flatMap { $0.isEmpty ? nil : $0 } }
        func number(_ key: ConfigKey, _ variable: String, _ range: ClosedRange<Double>) throws -> Double? {
            guard let text = value(key) else { return nil }
            guard let number = Double(text), range.contains(number) else {
                throw Invalid(description: "\(variable) '\(text)' is not a number in \(range.lowerBound)…\(range.upperBound)")
            }
            return number
        }
        var configuration = ClassifierConfiguration()
        configuration.rulesFile = value("classifier.rules.file") ?? ServiceFiles.locate(defaultRulesPath, environment: environment)
        configuration.modelFile = value("classifier.model.file") ?? ServiceFiles.locate(defaultModelPath, environment: environment)
        configuration.externalURL = value("classifier.external.url")
        if let url = configuration.externalURL {
            let parsed = URL(string: url)
            guard let scheme = parsed?.scheme?.lowercased(), ["http", "https"].contains(scheme), let host = parsed?.host, !host.isEmpty else {
                throw Invalid(description: "CLASSIFIER_EXTERNAL_URL '\(url)' is not an http(s) URL")
            }
            // Complaint text in the clear crosses no network: plain http only to this machine.
            if scheme == "http" && !isLoopback(host) {
                throw Invalid(description: "CLASSIFIER_EXTERNAL_URL '\(url)' sends complaints unencrypted to another host: use https:// (http:// is accepted for localhost, 127.0.0.0/8 and ::1 only)")
            }
        }
        configuration.externalToken = value("classifier.external.token")
        if let plugins = value("classifier.plugins") {
            configuration.plugins = try pluginList(plugins, variable: "CLASSIFIER_PLUGINS")
            // A URL for a model the chain never asks: the operator meant one of the two.
            if let url = configuration.externalURL, !configuration.plugins.contains("http") {
                throw Invalid(description: "CLASSIFIER_EXTERNAL_URL is set ('\(url)') but CLASSIFIER_PLUGINS '\(plugins)' has no http: add http to CLASSIFIER_PLUGINS or unset CLASSIFIER_EXTERNAL_URL")
            }
        } else if configuration.externalURL != nil {
            configuration.plugins.append("http")
        }
        if let milliseconds = try number("classifier.external.timeout.ms", "CLASSIFIER_EXTERNAL_TIMEOUT_MS", 1...60_000) {
            configuration.externalTimeout = .milliseconds(Int64(milliseconds))
        }
        if let weight = try number("classifier.external.weight", "CLASSIFIER_EXTERNAL_WEIGHT", 0...100) { configuration.externalWeight = weight }
        if let threshold = try number("classifier.review.threshold", "CLASSIFIER_REVIEW_THRESHOLD", 0...1) { configuration.reviewThreshold = threshold }
        if let threshold = try number("classifier.serious.threshold", "CLASSIFIER_SERIOUS_THRESHOLD", 0.01...1) { configuration.seriousThreshold = threshold }
        if let text = value("classifier.retention.days") {
            // Below 30 days a verdict could go while staff still correct it, and before the repeat window ends.
            guard let days = Int(text), days == 0 || (30...3_650).contains(days) else {
                throw Invalid(description: "CLASSIFIER_RETENTION_DAYS '\(text)' is not a whole number of days in 30…3650 (0 keeps verdicts and guest history for ever)")
            }
            configuration.retention.retention = days == 0 ? nil : .seconds(days * 86_400)
        }
        return configuration
    }
}
