import ComplaintPipeline
import Configuration
import Foundation
import NIOSSL

/// The notifier's own settings (besides ``ComplaintPipeline/ServiceSettings``), from environment
/// variables or the service's JSON file (`services/notifier/notifier.json` or `REDRESS_CONFIG_FILE`):
///
/// | environment | default |
/// | --- | --- |
/// | `NOTIFIER_RULES_FILE` | `services/notifier/rules.yaml` |
/// | `NOTIFIER_RULES_RELOAD_SECONDS` | 5: how often the running service looks at the rules file again |
/// | `NOTIFIER_TEMPLATES` | `services/notifier/templates` (read at start) |
/// | `SMTP_HOST`, `SMTP_PORT` | none (e-mail off), 25 |
/// | `SMTP_TLS` | `opportunistic` (STARTTLS when offered), `required` or `off` |
/// | `SMTP_CA_FILE` | the system's trust roots (a file of PEM certificates, checked at start) |
/// | `SMTP_USERNAME`, `SMTP_PASSWORD` | none (no AUTH) |
/// | `SMTP_FROM` | `Redress <redress@localhost>` |
/// | `INTAKE_URL`, `INTAKE_API_KEY` | none (`INTAKE_URL` is an http or https URL, checked at start): without both, guest messages are given up with `guest_contacts_not_configured` |
/// | `SURVEY_TOKEN_SECRET` | none: survey messages are given up with `survey_not_configured` (intake needs the same secret) |
public struct NotifierConfiguration: Sendable, Hashable {
    public var rulesFile: String
    public var reloadInterval: Duration = .seconds(5)
    public var templatesFolder: String
    public var smtp: SMTPClient.Configuration?
    public var sender = MailAddress("redress@localhost", name: "Redress")
    public var intakeURL: String?
    public var intakeAPIKey: String?
    public var surveySecret: String?

    public init(rulesFile: String = RulesFile.defaultPath, templatesFolder: String = TemplateCatalog.defaultPath) {
        self.rulesFile = rulesFile
        self.templatesFolder = templatesFolder
    }

    /// A setting that cannot be used; names the variable.
    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads the settings through swift-configuration like every service.
    public static func load(
        environment: [String: String] = ProcessInfo.processInfo.environment, configurationFile: String? = nil
    ) async throws -> NotifierConfiguration {
        let config = try await ServiceSettings.configReader(for: .notifier, environment: environment, configurationFile: configurationFile)
        func value(_ key: ConfigKey, secret: Bool = false) -> String? {
            config.string(forKey: key, isSecret: secret).flatMap { $0.isEmpty ? nil : $0 }
        }
        var configuration = NotifierConfiguration(
            rulesFile: value("notifier.rules.file") ?? ServiceFiles.locate(RulesFile.defaultPath, environment: environment),
            templatesFolder: value("notifier.templates") ?? ServiceFiles.locate(TemplateCatalog.defaultPath, environment: environment))
        if let text = value("notifier.rules.reload.seconds") {
            guard let seconds = Double(text), (0.1...3600).contains(seconds) else {
                throw Invalid(description: "NOTIFIER_RULES_RELOAD_SECONDS '\(text)' is not a number of seconds in 0.1…3600")
            }
            configuration.reloadInterval = .milliseconds(Int64(seconds * 1000))
        }
        if let host = value("smtp.host") {
            var smtp = SMTPClient.Configuration(host: host)
            if let text = value("smtp.port") {
                guard let port = Int(text), (1...65535).contains(port) else { throw Invalid(description: "SMTP_PORT '\(text)' is not a port") }
                smtp.port = port
            }
            if let text = value("smtp.tls") {
                guard let mode = SMTPClient.TLSMode(rawValue: text) else {
                    throw Invalid(description: "SMTP_TLS '\(text)' must be one of opportunistic, required, off")
                }
                smtp.tls = mode
            }
            if let file = value("smtp.ca.file") {
                try checkTrustRoots(file)
                smtp.trustRootsFile = file
            }
            smtp.username = value("smtp.username")
            smtp.password = value("smtp.password", secret: true)
            if (smtp.username == nil) != (smtp.password == nil) {
                throw Invalid(description: "SMTP_USERNAME and SMTP_PASSWORD go together")
            }
            configuration.smtp = smtp
        }
        if let text = value("smtp.from") {
            guard let sender = MailAddress(parsing: text) else { throw Invalid(description: "SMTP_FROM '\(text)' is not an address such as Redress <redress@hotel.example>") }
            configuration.sender = sender
        }
        if let url = value("intake.url") {
            try checkIntakeURL(url)
            configuration.intakeURL = url
        }
        configuration.intakeAPIKey = value("intake.api.key", secret: true)
        // A URL without a key (Compose before a key was made) leaves guest messages off; a key alone is a mistake.
        if configuration.intakeAPIKey != nil && configuration.intakeURL == nil {
            throw Invalid(description: "INTAKE_API_KEY is set but INTAKE_URL is not (guest contact details come from intake)")
        }
        configuration.surveySecret = value("survey.token.secret", secret: true)
        if let secret = configuration.surveySecret, secret.utf8.count < 16 {
            throw Invalid(description: "SURVEY_TOKEN_SECRET must be at least 16 characters")
        }
        return configuration
    }

    /// `INTAKE_URL` is an http or https URL with a host: one without a scheme (`intake:8081`) started the
    /// service, then failed every guest message's contact look-up, retried for hours before being given up.
    static func checkIntakeURL(_ text: String) throws {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = url.host, !host.isEmpty
        else {
            throw Invalid(description: "INTAKE_URL '\(text)' is not an http or https URL with a host, such as http://intake:8081")
        }
    }

    /// `SMTP_CA_FILE` is a readable file of PEM certificates: checked at start, not at the first STARTTLS,
    /// where a wrong path failed every e-mail (retried as a connection failure) until it was noticed.
    static func checkTrustRoots(_ file: String) throws {
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(file)
        } catch {
            let reason = FileManager.default.isReadableFile(atPath: file) ? "holds no PEM certificate" : "cannot be read"
            throw Invalid(description: "SMTP_CA_FILE '\(file)' \(reason) (\(error))")
        }
        guard !certificates.isEmpty else { throw Invalid(description: "SMTP_CA_FILE '\(file)' holds no PEM certificate") }
    }
}
