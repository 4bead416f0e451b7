import ComplaintEvents
import ComplaintPipeline
import Foundation
import Logging
import Prometheus

/// Builds the notifier stage: consumes `complaints.received.v1`, `complaints.assigned.v1`,
/// `complaints.updated.v1` and `complaints.sla.v1` on one consumer group, records an intent per
/// recipient and channel that its rules name, and delivers them from three workers (guest, staff,
/// endpoint), publishing a `notifications.delivered.v1` receipt for every attempt.
public enum NotifierService {
    /// The topics the stage reads and writes (tests rename them to stay isolated).
    public struct Topics: Sendable {
        public var received = ComplaintEvents.Topics.received
        public var assigned = ComplaintEvents.Topics.assigned
        public var updated = ComplaintEvents.Topics.updated
        public var sla = ComplaintEvents.Topics.sla
        public var notifications = ComplaintEvents.Topics.notifications
        public init() {}
    }

    /// What the stage delivers with.
    public struct Delivery: Sendable {
        public var rules: LiveConfiguration<NotificationRules>
        public var templates: TemplateCatalog
        public var channels: [any NotificationChannel]
        public var guests: (any GuestContactSource)?
        public var surveySecret: String?

        public init(
            rules: LiveConfiguration<NotificationRules>, templates: TemplateCatalog, channels: [any NotificationChannel],
            guests: (any GuestContactSource)?, surveySecret: String?
        ) {
            self.rules = rules
            self.templates = templates
            self.channels = channels
            self.guests = guests
            self.surveySecret = surveySecret
        }
    }

    /// The stage process.
    public static func makeRuntime(
        service: RedressService = .notifier, settings: ServiceSettings, delivery: Delivery, topics: Topics = Topics(),
        reloadInterval: Duration = .seconds(5), now: @escaping @Sendable () -> Date = { Date() },
        registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), logger: Logger
    ) -> StageRuntime {
        var planner = NotificationPlanner(rules: delivery.rules, templates: delivery.templates)
        planner.now = now
        let recorder = NotificationRecorder(planner: planner)
        var runtime = StageRuntime(
            service: service, settings: settings,
            inputs: [
                StageInput(topics.received, ReceivedNotificationHandler(recorder: recorder)),
                StageInput(topics.assigned, AssignedNotificationHandler(recorder: recorder)),
                StageInput(topics.updated, UpdatedNotificationHandler(recorder: recorder)),
                StageInput(topics.sla, SLANotificationHandler(recorder: recorder)),
            ],
            registry: registry, logger: logger)
        var byChannel: [DeliveryChannel: any NotificationChannel] = [:]
        for channel in delivery.channels {
            for name in channel.channels { byChannel[name] = channel }
        }
        // Every replica's calls to an endpoint count against its one limit, and a robot's refusal seen by
        // one holds it for all: the pacer keeps its log in the notifier's schema once the tables are there.
        let pacer = EndpointPacer()
        runtime.afterMigrations = { resources in pacer.share(through: resources.store.client, schema: resources.store.schema) }
        runtime.workPerformers = DeliveryKind.allCases.map { kind in
            var performer = DeliveryPerformer(
                kind: kind, rules: delivery.rules, templates: delivery.templates, channels: byChannel, guests: delivery.guests,
                surveySecret: delivery.surveySecret, receipts: topics.notifications, pacer: pacer)
            performer.source = "/redress/\(service.name)"
            return performer
        }
        if let follower = delivery.rules.followerService(named: "rules file", every: reloadInterval) {
            runtime.backgroundServices.append(follower)
        }
        // After the migrations, like every background service: the pacer is shared by then.
        runtime.backgroundServices.append(BackgroundService(name: "rate-limit changes") { resources in
            RateLimitChanges(rules: delivery.rules, pacer: pacer, interval: reloadInterval, logger: resources.logger)
        })
        return runtime
    }

    /// The stage process from configuration (``NotifierConfiguration``): the rules file and the templates
    /// are read and checked first, so a broken file stops the service at start with its line and field.
    public static func makeRuntime(
        settings: ServiceSettings, configuration: NotifierConfiguration, registry: PrometheusCollectorRegistry, logger: Logger
    ) throws -> StageRuntime {
        let templates = try TemplateCatalog(folder: configuration.templatesFolder)
        let rules = try LiveConfiguration(name: "notification-rules", path: configuration.rulesFile) { file throws(ConfigurationFileError) in
            let rules = try RulesFile.load(file)
            try RulesFile.check(rules, against: templates, in: file)
            return rules
        }
        var channels: [any NotificationChannel] = [WebhookChannel(), RobotChannel(), SMSGatewayChannel()]
        if let smtp = configuration.smtp {
            let domain = configuration.sender.address.split(separator: "@").last.map(String.init) ?? "localhost"
            channels.append(EmailChannel(client: SMTPClient(configuration: smtp), sender: configuration.sender, messageIDDomain: domain))
        }
        let guests: (any GuestContactSource)? = configuration.intakeURL.flatMap { url in
            configuration.intakeAPIKey.map { IntakeGuestContacts(baseURL: url, apiKey: $0) }
        }
        logger.info("notifier ready", metadata: [
            "notifier.rules": "\(configuration.rulesFile)", "notifier.rules.count": "\(rules.current.rules.count)",
            "notifier.email": "\(configuration.smtp.map { "\($0.host):\($0.port) tls=\($0.tls.rawValue)" } ?? "off")",
            "notifier.guest_contacts": "\(guests == nil ? "off" : "intake")",
            "notifier.survey": "\(configuration.surveySecret == nil ? "off" : "on")",
        ])
        return makeRuntime(
            settings: settings,
            delivery: Delivery(rules: rules, templates: templates, channels: channels, guests: guests, surveySecret: configuration.surveySecret),
            reloadInterval: configuration.reloadInterval, registry: registry, logger: logger)
    }
}
