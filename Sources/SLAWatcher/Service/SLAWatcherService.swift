import ComplaintEvents
import ComplaintPipeline
import Foundation
import Logging
import Prometheus

/// Builds the SLA watcher stage: consumes `complaints.assigned.v1` (clocks start) and
/// `complaints.updated.v1` (staff actions), fires timers from its `sla` schema and publishes every clock
/// event on `complaints.sla.v1`. The `redress-sla-watcher` main and the tests use it.
public enum SLAWatcherService {
    /// The topics the stage reads and writes (tests rename them to stay isolated).
    public struct Topics: Sendable {
        public var assigned = ComplaintEvents.Topics.assigned
        public var updated = ComplaintEvents.Topics.updated
        public var sla = ComplaintEvents.Topics.sla
        public init() {}
    }

    /// The stage process for `policies` (already loaded and checked).
    public static func makeRuntime(
        service: RedressService = .slaWatcher, settings: ServiceSettings, policies: SLAPolicies, topics: Topics = Topics(),
        sweep: TimerSweep.Configuration = TimerSweep.Configuration(),
        registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), logger: Logger
    ) -> StageRuntime {
        var clockwork = Clockwork(policies: policies, outputTopic: topics.sla)
        clockwork.source = "/redress/\(service.name)"
        var runtime = StageRuntime(
            service: service, settings: settings,
            inputs: [
                StageInput(topics.assigned, AssignedClockHandler(clockwork: clockwork)),
                StageInput(topics.updated, UpdatedClockHandler(clockwork: clockwork)),
            ],
            registry: registry, logger: logger)
        let frozen = clockwork
        runtime.backgroundServices = [
            BackgroundService(name: "timer sweep") { resources in
                TimerSweep(clockwork: frozen, store: resources.store, client: resources.client, configuration: sweep, logger: resources.logger)
            },
        ]
        return runtime
    }

    /// The stage process from the environment: `SLA_POLICY_FILE` (default `services/sla-watcher/policies.yaml`,
    /// found from the working directory, `REDRESS_HOME` or the executable's folder). A broken file stops the
    /// service at start with its line and field.
    public static func makeRuntime(
        settings: ServiceSettings, environment: [String: String] = ProcessInfo.processInfo.environment,
        registry: PrometheusCollectorRegistry, logger: Logger
    ) throws -> StageRuntime {
        let path = environment["SLA_POLICY_FILE"].flatMap { $0.isEmpty ? nil : $0 } ?? ServiceFiles.locate(PolicyFile.defaultPath, environment: environment)
        let policies = try PolicyFile.load(contentsOf: path)
        logger.info("sla-watcher ready", metadata: ["sla.policy": "\(path)", "sla.rules": "\(policies.rules.count)"])
        return makeRuntime(settings: settings, policies: policies, registry: registry, logger: logger)
    }
}
