import Access
import ComplaintPipeline
import ComplaintStore
import Configuration
import Foundation

/// Intake's own settings, read like every service's (environment, then `services/intake/intake.json`).
/// API keys, rate limits and the database deadline of requests are the access layer's
/// (``ComplaintPipeline/AccessConfiguration``: `ACCESS_RATE_PER_SECOND`, `ACCESS_KEY_CACHE_SECONDS`, `DATABASE_TIMEOUT_MS`).
///
/// | key | environment | default |
/// | --- | --- | --- |
/// | `redress.guest.key.secret` | `REDRESS_GUEST_KEY_SECRET` | required (a secret, ≥ 16 characters) |
/// | `intake.max.body.bytes` | `INTAKE_MAX_BODY_BYTES` | `32768` |
/// | `intake.compensation.staff.limits` | `INTAKE_COMPENSATION_STAFF_LIMITS` | `CNY:20000,USD:3000,EUR:3000` |
/// | `intake.compensation.manager.limits` | `INTAKE_COMPENSATION_MANAGER_LIMITS` | unlimited |
/// | `intake.idempotency.key.days` | `INTAKE_IDEMPOTENCY_KEY_DAYS` | `30`: how long an `Idempotency-Key` is recognised for a retry; `0` keeps keys for ever |
/// | `survey.token.secret` | `SURVEY_TOKEN_SECRET` | none: `/survey/…` says surveys are not enabled (the notifier signs the links with the same secret) |
public struct IntakeConfiguration: Sendable {
    public var topics = IntakeTopics()
    public var guestKeySecret: String
    /// Verifies the follow-up survey links the notifier sends; `nil` turns the survey page off.
    public var surveySecret: String?
    public var maximumBodySize = 32 * 1024
    public var authority = CompensationAuthority.default
    /// How long `Idempotency-Key`s are kept, and the purge of older ones.
    public var idempotencyKeys = IdempotencyKeyPurge.Configuration()

    public init(guestKeySecret: String) {
        self.guestKeySecret = guestKeySecret
    }

    /// Reads the settings; the message of a thrown error names the variable to fix.
    public static func load(environment: [String: String] = ProcessInfo.processInfo.environment) async throws -> IntakeConfiguration {
        let config = try await ServiceSettings.configReader(for: .intake, environment: environment, secrets: ["REDRESS_GUEST_KEY_SECRET", "SURVEY_TOKEN_SECRET"])
        guard let secret = config.string(forKey: "redress.guest.key.secret", isSecret: true), secret.count >= 16 else {
            throw ServiceSettings.Invalid(description: "REDRESS_GUEST_KEY_SECRET must be set to at least 16 characters (it keys the guest pseudonyms)")
        }
        var configuration = IntakeConfiguration(guestKeySecret: secret)
        configuration.maximumBodySize = max(1024, try config.wholeNumber(forKey: "intake.max.body.bytes", default: 32 * 1024))
        if let survey = config.string(forKey: "survey.token.secret", isSecret: true), !survey.isEmpty {
            guard survey.utf8.count >= 16 else {
                throw ServiceSettings.Invalid(description: "SURVEY_TOKEN_SECRET must be at least 16 characters")
            }
            configuration.surveySecret = survey
        }
        if let text = config.string(forKey: "intake.idempotency.key.days"), !text.isEmpty {
            guard let days = Int(text), (0...3_650).contains(days) else {
                throw ServiceSettings.Invalid(description: "INTAKE_IDEMPOTENCY_KEY_DAYS must be a whole number of days from 0 (keep for ever) to 3650, not '\(text)'")
            }
            configuration.idempotencyKeys.retention = days == 0 ? nil : .seconds(days * 86_400)
        }
        if let staff = config.string(forKey: "intake.compensation.staff.limits") {
            configuration.authority.limits[.staff] = try CompensationAuthority.parseLimits(staff)
        }
        if let manager = config.string(forKey: "intake.compensation.manager.limits") {
            configuration.authority.limits[.manager] = try CompensationAuthority.parseLimits(manager)
        }
        return configuration
    }
}
