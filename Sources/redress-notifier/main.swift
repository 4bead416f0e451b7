import ComplaintPipeline
import Notifier

/// `redress-notifier`: tells staff and guests what they need to know (complaints.received.v1,
/// complaints.assigned.v1, complaints.updated.v1, complaints.sla.v1 → e-mail, SMS, robots, webhooks →
/// notifications.delivered.v1). Settings: ServiceSettings (KAFKA_BROKERS, DATABASE_URL, …) and
/// NotifierConfiguration (NOTIFIER_*, SMTP_*, INTAKE_*, SURVEY_TOKEN_SECRET).
await ServiceMain.run(.notifier) { settings, registry, logger in
    try NotifierService.makeRuntime(
        settings: settings, configuration: try await NotifierConfiguration.load(), registry: registry, logger: logger)
}
