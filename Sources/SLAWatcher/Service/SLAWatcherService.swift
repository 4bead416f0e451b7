import ComplaintEvents
import ComplaintPipeline
import Foundation
import Logging
import Prometheus
import RdKafka

/// Builds the SLA watcher stage: consumes `complaints.assigned.v1` (clocks start), `complaints.updated.v1`
/// (staff actions) and `complaints.classified.v1` (reclassifications reschedule), fires timers from its `sla` schema and publishes every clock
/// event on `complaints.sla.v1`. The `redress-sla-watcher` main and the tests use it.
public enum SLAWatcherService {
    /// The topics the stage reads and writes (tests rename them to stay isolated).
    public struct Topics: Sendable {
        public var classified = ComplaintEvents.Topics.classified
        public var assigned = ComplaintEvents.Topics.assigned
        public var updated = ComplaintEvents.Topics.updated
        public var sla = ComplaintEvents.Topics.sla
        public init() {}
    }

    /// The stage process for fixed `policies` (already loaded and checked).
    public static func makeRuntime(
        service: RedressService = .slaWatcher, settings: ServiceSettings, policies: SLAPolicies, topics: Topics = Topics(),
        sweep: TimerSweep.Configuration = TimerSweep.Configuration(), input: InputWatermark.Configuration = InputWatermark.Configuration(),
        purge: ClockPurge.Configuration = ClockPurge.Configuration(), registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), clock: @escaping @Sendable () -> Date = { Date() }, logger: Logger
    ) -> StageRuntime {
        makeRuntime(
            service: service, settings: settings, policies: LiveConfiguration(name: "sla-policies", fixed: policies), topics: topics,
            sweep: sweep, input: input, purge: purge, registry: registry, clock: clock, logger: logger)
    }

    /// The stage process for `policies`, followed while it runs when they come from a file.
    public static func makeRuntime(
        service: RedressService = .slaWatcher, settings: ServiceSettings, policies: LiveConfiguration<SLAPolicies>, topics: Topics = Topics(),
        sweep: TimerSweep.Configuration = TimerSweep.Configuration(), input: InputWatermark.Configuration = InputWatermark.Configuration(),
        purge: ClockPurge.Configuration = ClockPurge.Configuration(), reloadInterval: Duration = .seconds(5), registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        clock: @escaping @Sendable () -> Date = { Date() }, logger: Logger
    ) -> StageRuntime {
        var clockwork = Clockwork(livePolicies: policies, outputTopic: topics.sla)
        clockwork.clock = clock
        clockwork.source = "/redress/\(service.name)"
        clockwork.retention = purge.retention
        clockwork.logger = logger
        var runtime = StageRuntime(
            service: service, settings: settings,
            inputs: [
                StageInput(topics.classified, ClassifiedClockHandler(clockwork: clockwork)),
                StageInput(topics.assigned, AssignedClockHandler(clockwork: clockwork)),
                StageInput(topics.updated, UpdatedClockHandler(clockwork: clockwork)),
            ],
            registry: registry, logger: logger)
        let frozen = clockwork
        // Timers fire only once the input is applied past them (see InputWatermark): the sweep reads the
        // watermarks every replica's input watermark keeps for the partitions it owns.
        runtime.backgroundServices = [
            BackgroundService(name: "input watermark") { resources in
                guard let consumer = resources.consumer else { preconditionFailure("the SLA watcher stage reads its inputs") }
                return InputWatermark(consumer: consumer, store: resources.store, clock: clock, configuration: input, logger: resources.logger)
            },
            BackgroundService(name: "timer sweep") { resources in
                var sweep = sweep
                if let consumer = resources.consumer { sweep.input = TimerSweep.InputGate(topics: consumer.topics, grace: input.grace) }
                return TimerSweep(clockwork: frozen, store: resources.store, client: resources.client, configuration: sweep, logger: resources.logger)
            },
        ]
        if purge.retention != nil {
            runtime.backgroundServices.append(BackgroundService(name: "clock retention") { resources in
                ClockPurge(clockwork: frozen, store: resources.store, configuration: purge, logger: resources.logger)
            })
        }
        if let follower = policies.followerService(named: "policy file", every: reloadInterval) {
            runtime.backgroundServices.append(follower)
        }
        return runtime
    }

    /// The stage process from configuration (``SLAWatcherConfiguration``): the policy file is read and
    /// checked first, so a broken file stops the service at start with its line and field; while it runs, a
    /// broken edit is logged and the last good policy stays in force.
    public static func makeRuntime(
        settings: ServiceSettings, configuration: SLAWatcherConfiguration, registry: PrometheusCollectorRegistry, logger: Logger
    ) throws -> StageRuntime {
        let timeScale = configuration.timeScale
        let policies = try LiveConfiguration(name: "sla-policies", path: configuration.policyFile) { file throws(ConfigurationFileError) in
            var policies = try PolicyFile.load(file)
            policies.timeScale = timeScale
            return policies
        }
        if timeScale != 1 {
            logger.warning("SLA time runs \(timeScale) times faster (SLA_TIME_SCALE): demo or test only", metadata: ["sla.time.scale": "\(timeScale)"])
        }
        logger.info("sla-watcher ready", metadata: [
            "sla.policy": "\(configuration.policyFile)", "sla.rules": "\(policies.current.rules.count)",
            "sla.policy.reload": "\(configuration.reloadInterval)",
            "sla.retention": "\(configuration.retention.map { "\($0.components.seconds / 86_400) days" } ?? "for ever")",
        ])
        var purge = ClockPurge.Configuration()
        purge.retention = configuration.retention
        var input = InputWatermark.Configuration()
        input.grace = configuration.firingGrace
        return makeRuntime(
            settings: settings, policies: policies, input: input, purge: purge, reloadInterval: configuration.reloadInterval, registry: registry, logger: logger)
    }
}
