import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import Foundation
import Logging
import Prometheus

/// Builds the metrics stage: consumes every complaint topic and the notification receipts on one consumer
/// group into the rollups of its `metrics` schema, serves the KPI API, the dashboard and its live stream,
/// puts the KPIs into Prometheus gauges (`/v1/metrics`, admin keys), and publishes early warnings on `alerts.v1`. The `redress-metrics` main,
/// `redress metrics rebuild` and the tests use it.
public enum MetricsService {
    /// The topics the stage reads and writes (tests rename them to stay isolated).
    public struct Topics: Sendable {
        public var received = ComplaintEvents.Topics.received
        public var classified = ComplaintEvents.Topics.classified
        public var assigned = ComplaintEvents.Topics.assigned
        public var updated = ComplaintEvents.Topics.updated
        public var sla = ComplaintEvents.Topics.sla
        public var notifications = ComplaintEvents.Topics.notifications
        public var alerts = ComplaintEvents.Topics.alerts
        public init() {}

        /// The same topics under `prefix` (`KAFKA_TOPIC_PREFIX`), as an environment's services name them.
        public func prefixed(_ prefix: String) -> Topics {
            guard !prefix.isEmpty else { return self }
            var topics = self
            topics.received = received.renamed(prefix + received.name)
            topics.classified = classified.renamed(prefix + classified.name)
            topics.assigned = assigned.renamed(prefix + assigned.name)
            topics.updated = updated.renamed(prefix + updated.name)
            topics.sla = sla.renamed(prefix + sla.name)
            topics.notifications = notifications.renamed(prefix + notifications.name)
            topics.alerts = alerts.renamed(prefix + alerts.name)
            return topics
        }
    }

    /// What runs besides the pipeline; tests and `rebuild` switch parts off.
    public struct Parts: Sendable {
        public var dashboard: Dashboard?
        public var earlyWarning = true
        public var gauges: Duration? = .seconds(15)
        /// Where the KPI gauges go (served at `/v1/metrics` to admin keys).
        public var kpiRegistry = PrometheusCollectorRegistry()
        public var liveFeed = true
        /// How often `/v1/live` sends a heartbeat and checks its key again.
        public var liveHeartbeat: Duration = .seconds(15)
        /// How many `/v1/live` streams may be open per key and per process.
        public var liveLimits = LiveFeed.Limits()
        public var clock: @Sendable () -> Date = { Date() }
        public init(dashboard: Dashboard? = nil) {
            self.dashboard = dashboard
        }
    }

    /// The stage process for `settings` (followed while it runs when they come from a file).
    public static func makeRuntime(
        service: RedressService = .metrics, settings serviceSettings: ServiceSettings, settings: LiveConfiguration<MetricsSettings>,
        topics: Topics = Topics(), parts: Parts = Parts(), reloadInterval: Duration = .seconds(5),
        registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), logger: Logger
    ) -> StageRuntime {
        let schema = service.schema.description
        let recorder = FactRecorder(schema: schema) { settings.current.repeatWindowDays }
        var runtime = StageRuntime(
            service: service, settings: serviceSettings,
            inputs: [
                // Takes the guest's lock and marks the guest's other complaints as repeats: rows beyond its own,
                // which the other inputs' lanes write too, under their complaints' locks; no key of the event
                // names them, so its events are applied one per transaction.
                StageInput(topics.received, ReceivedFactsHandler(recorder: recorder)).oneEventPerTransaction(),
                StageInput(topics.classified, ClassifiedFactsHandler(recorder: recorder)),
                StageInput(topics.assigned, AssignedFactsHandler(recorder: recorder)),
                StageInput(topics.updated, UpdatedFactsHandler(recorder: recorder)),
                StageInput(topics.sla, SLAFactsHandler(recorder: recorder)),
                // Counts into a row per hotel, day, channel and status, shared across complaints: a shared
                // transaction takes its counters' locks first, sorted, so two lanes never wait on each
                // other's counter rows in a cycle.
                StageInput(
                    topics.notifications, NotificationFactsHandler(recorder: recorder), lockingFirst: notificationCounterLocks(schema: schema)),
            ],
            registry: registry, logger: logger)
        // The live feed, known once the background services are built (before the routes).
        let feedBox = MutexBox<LiveFeed?>(nil)
        if parts.liveFeed {
            let heartbeat = parts.liveHeartbeat, limits = parts.liveLimits
            runtime.backgroundServices.append(BackgroundService(name: "live feed") { resources in
                let feed = LiveFeed(
                    client: resources.client, channel: recorder.liveChannel, heartbeat: heartbeat, limits: limits, logger: resources.logger)
                feedBox.withLock { $0 = feed }
                return feed
            })
        }
        if parts.earlyWarning {
            let clock = parts.clock
            runtime.backgroundServices.append(BackgroundService(name: "early warning") { resources in
                AlertSweep(
                    store: resources.store, settings: settings, topic: topics.alerts, source: "/redress/\(service.name)", lockKey: schema,
                    clock: clock, logger: resources.logger)
            })
        }
        if let interval = parts.gauges {
            let clock = parts.clock
            runtime.backgroundServices.append(BackgroundService(name: "KPI gauges") { resources in
                KPIGauges(
                    store: resources.store, settings: settings, registry: parts.kpiRegistry, interval: interval, clock: clock, logger: resources.logger)
            })
        }
        if let follower = settings.followerService(named: "metrics file", every: reloadInterval) {
            runtime.backgroundServices.append(follower)
        }
        let dashboard = parts.dashboard
        let clock = parts.clock
        runtime.addRoutes = { router, resources in
            var api = MetricsAPI(
                store: resources.requestStore, database: resources.database, authentication: resources.authentication, settings: settings,
                feed: nil)
            api.feedLookup = { feedBox.withLock { $0 } }
            api.kpiRegistry = parts.kpiRegistry
            api.clock = clock
            api.addRoutes(to: router)
            dashboard?.addRoutes(to: router)
        }
        return runtime
    }

    /// Locks on the `notification_outcomes` rows an event counts into, by hotel, channel and status (the
    /// row's key but its day, so every day of a hotel, channel and status shares one lock: a row's lock key
    /// never depends on rounding a time to a day). Advisory, in a key space named after `schema` (a rebuild
    /// into a schema of its own never waits on the live service): the handler writes one counter row, so
    /// only transactions holding several, which took these first, could wait on each other.
    static func notificationCounterLocks(schema: String) -> TransactionLocks<NotificationOutcome> {
        TransactionLocks(
            keys: { event in ["\(event.hotelID)|\(event.data.channel.rawValue)|\(event.data.status.kind.rawValue)"] },
            acquire: { keys, connection, logger in
                try await SubjectLock.acquire(keys, keySpace: "redress.metrics.notification-outcomes:\(schema)", on: connection, logger: logger)
            })
    }

    /// The stage process from configuration: the metrics file is read and checked first, so a broken file
    /// stops the service at start with its line and field; while it runs, a broken edit is logged and the
    /// last good file stays in force.
    public static func makeRuntime(
        settings: ServiceSettings, configuration: MetricsConfiguration, registry: PrometheusCollectorRegistry, logger: Logger
    ) throws -> StageRuntime {
        let metrics = try LiveConfiguration(name: "metrics-file", path: configuration.file) { file throws(ConfigurationFileError) in
            try MetricsFile.load(file)
        }
        let dashboard = try Dashboard(folder: configuration.dashboardFolder)
        logger.info("metrics ready", metadata: [
            "metrics.file": "\(configuration.file)", "metrics.hotels": "\(metrics.current.hotels.keys.sorted().joined(separator: ","))",
            "metrics.dashboard": "\(configuration.dashboardFolder)",
        ])
        var parts = Parts(dashboard: dashboard)
        parts.gauges = configuration.gaugeInterval
        parts.liveHeartbeat = configuration.liveHeartbeat
        parts.liveLimits = configuration.liveLimits
        return makeRuntime(
            settings: settings, settings: metrics, parts: parts, reloadInterval: configuration.reloadInterval, registry: registry, logger: logger)
    }
}

