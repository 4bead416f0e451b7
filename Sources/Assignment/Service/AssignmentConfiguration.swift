import ComplaintPipeline
import Configuration
import Foundation

/// Assignment's own settings (besides ``ComplaintPipeline/ServiceSettings``), from environment variables
/// or the service's JSON file (`services/assignment/assignment.json` or `REDRESS_CONFIG_FILE`):
///
/// | environment | key | default |
/// | --- | --- | --- |
/// | `ASSIGNMENT_ORGANISATION_FILE` | `assignment.organisation.file` | `services/assignment/organisation.yaml`, found from the working directory, `REDRESS_HOME` or the executable's folder |
/// | `ASSIGNMENT_DISPATCHER_URL` | `assignment.dispatcher.url` | the file's `dispatcher.url`, else none |
/// | `ASSIGNMENT_DISPATCHER_TIMEOUT_MS` | `assignment.dispatcher.timeout.ms` | the file's `dispatcher.timeoutMs`, else 800 |
public struct AssignmentConfiguration: Sendable, Hashable {
    public var organisationFile: String
    public var dispatcherURL: String?
    public var dispatcherTimeoutMilliseconds: Int?

    public init(organisationFile: String = OrganisationFile.defaultPath, dispatcherURL: String? = nil, dispatcherTimeoutMilliseconds: Int? = nil) {
        self.organisationFile = organisationFile
        self.dispatcherURL = dispatcherURL
        self.dispatcherTimeoutMilliseconds = dispatcherTimeoutMilliseconds
    }

    /// A setting that cannot be used; names the variable.
    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads the settings through swift-configuration like every service: environment first, then the
    /// service's JSON file, then the defaults.
    public static func load(
        environment: [String: String] = ProcessInfo.processInfo.environment, configurationFile: String? = nil
    ) async throws -> AssignmentConfiguration {
        let config = try await ServiceSettings.configReader(for: .assignment, environment: environment, configurationFile: configurationFile)
        func value(_ key: ConfigKey) -> String? { config.string(forKey: key).flatMap { $0.isEmpty ? nil : $0 } }
        var configuration = AssignmentConfiguration()
        configuration.organisationFile = value("assignment.organisation.file")
            ?? ServiceFiles.locate(OrganisationFile.defaultPath, environment: environment)
        configuration.dispatcherURL = value("assignment.dispatcher.url")
        if let text = value("assignment.dispatcher.timeout.ms") {
            guard let milliseconds = Int(text), (1...60_000).contains(milliseconds) else {
                throw Invalid(description: "ASSIGNMENT_DISPATCHER_TIMEOUT_MS '\(text)' is not a number of milliseconds in 1…60000")
            }
            configuration.dispatcherTimeoutMilliseconds = milliseconds
        }
        return configuration
    }

    /// The organisation file, checked, with the dispatcher settings from the environment applied.
    /// - Throws: A ``ComplaintPipeline/ConfigurationFileError`` naming the line and field of the first problem.
    public func loadOrganisation() throws -> Organisation {
        var organisation = try OrganisationFile.load(contentsOf: organisationFile, strategies: StrategyRegistry().names)
        if let dispatcherURL {
            organisation.dispatcher = DispatcherSettings(
                url: dispatcherURL, timeoutMilliseconds: dispatcherTimeoutMilliseconds ?? organisation.dispatcher?.timeoutMilliseconds ?? 800,
                fallback: organisation.dispatcher?.fallback ?? LeastLoadedStrategy.name)
            if let issue = OrganisationRules(strategies: StrategyRegistry().names).check(organisation.dispatcher!, at: []).first {
                throw Invalid(description: "ASSIGNMENT_DISPATCHER_URL: \(issue.rule)")
            }
        } else if let milliseconds = dispatcherTimeoutMilliseconds {
            organisation.dispatcher?.timeoutMilliseconds = milliseconds
        }
        return organisation
    }
}
