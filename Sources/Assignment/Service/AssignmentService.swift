import ComplaintEvents
import ComplaintPipeline
import Foundation
import Logging
import PostgresNIO
import Prometheus

/// Builds the assignment stage: consumes `complaints.classified.v1` (assign), `complaints.sla.v1`
/// (escalate) and `complaints.updated.v1` (capacity, hand-overs), publishes `complaints.assigned.v1`,
/// owns the `assignment` schema, loads the organisation file after the migrations and serves the
/// organisation API. The `redress-assignment` main and the tests use it.
public enum AssignmentService {
    /// The topics the stage reads and writes (tests rename them to stay isolated).
    public struct Topics: Sendable {
        public var classified = ComplaintEvents.Topics.classified
        public var sla = ComplaintEvents.Topics.sla
        public var updated = ComplaintEvents.Topics.updated
        public var assigned = ComplaintEvents.Topics.assigned
        public init() {}
    }

    /// The stage process for `organisation` (already loaded and checked).
    public static func makeRuntime(
        service: RedressService = .assignment, settings: ServiceSettings, organisation: Organisation, topics: Topics = Topics(),
        registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), logger: Logger
    ) -> StageRuntime {
        let strategies = StrategyRegistry(dispatcherFallback: organisation.dispatcher?.fallback ?? LeastLoadedStrategy.name)
        let organisations = OrganisationStore()
        var assigner = Assigner(
            planner: AssignmentPlanner(strategies: strategies), organisations: organisations, outputTopic: topics.assigned,
            dispatcher: organisation.dispatcher.map { DispatcherClient(settings: $0, logger: logger) })
        assigner.source = "/redress/\(service.name)"
        let lockHotels: @Sendable ([String], PostgresConnection, Logger) async throws -> Void = { hotels, connection, logger in
            try await organisations.lock(hotels, on: connection, logger: logger)
        }
        var runtime = StageRuntime(
            service: service, settings: settings,
            inputs: [
                // All three take the hotel's lock first: a shared transaction takes its hotels' locks
                // up front, in hotel order.
                StageInput(topics.classified, preparing: ClassifiedAssignmentHandler(assigner: assigner)).sharingTransactions(lockingHotelsFirst: lockHotels),
                StageInput(topics.sla, EscalationHandler(assigner: assigner)).sharingTransactions(lockingHotelsFirst: lockHotels),
                StageInput(topics.updated, StatusHandler(assigner: assigner)).sharingTransactions(lockingHotelsFirst: lockHotels),
            ],
            registry: registry, logger: logger)
        runtime.afterMigrations = { resources in
            let result = try await resources.store.write { connection, logger in
                (try await organisations.apply(organisation, on: connection, logger: logger), [])
            }
            resources.logger.info("organisation file applied", metadata: [
                "assignment.hotels.applied": "\(result.applied.joined(separator: ","))",
                "assignment.hotels.unchanged": "\(result.unchanged.joined(separator: ","))",
            ])
        }
        runtime.addRoutes = { router, resources in
            OrganisationAPI(
                store: resources.requestStore, database: resources.database, authentication: resources.authentication,
                strategies: strategies.names, organisations: organisations
            ).addRoutes(to: router)
        }
        return runtime
    }

    /// The stage process from configuration: reads and checks the organisation file first, so a broken
    /// file stops the service at start with its line and field.
    public static func makeRuntime(
        settings: ServiceSettings, configuration: AssignmentConfiguration, registry: PrometheusCollectorRegistry, logger: Logger
    ) throws -> StageRuntime {
        let organisation = try configuration.loadOrganisation()
        logger.info("assignment ready", metadata: [
            "assignment.organisation": "\(configuration.organisationFile)",
            "assignment.hotels": "\(organisation.hotels.map(\.id).joined(separator: ","))",
            "assignment.dispatcher": "\(organisation.dispatcher?.url ?? "none")",
        ])
        return makeRuntime(settings: settings, organisation: organisation, registry: registry, logger: logger)
    }
}
