import ComplaintEvents
import ComplaintPipeline
import Foundation
import Logging
import Metrics
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
            try await applyOrganisationFile(organisation, organisations: organisations, store: resources.store, logger: resources.logger)
        }
        runtime.addRoutes = { router, resources in
            OrganisationAPI(
                store: resources.requestStore, database: resources.database, authentication: resources.authentication,
                strategies: strategies.names, organisations: organisations
            ).addRoutes(to: router)
        }
        return runtime
    }

    /// What applying the organisation file at start did.
    public enum FileOutcome: Sendable, Hashable {
        case applied(OrganisationStore.FileApplication)
        /// It drops staff who still own open complaints: nothing of it was applied.
        case refused(OrganisationStore.FileRefused)
    }

    /// Applies the organisation file in one transaction. A file that drops staff who still own open
    /// complaints is refused as a whole, as the API refuses that deletion: the organisation stored before
    /// stays in force, the service runs on it, an error names the staff and how many open complaints each
    /// owns, and `redress_configuration_reloads_total{file="organisation",result="rejected"}` counts it, as
    /// for every configuration file a service refuses. The hotels' digests stay, so the next start checks
    /// the file again.
    @discardableResult
    public static func applyOrganisationFile(
        _ organisation: Organisation, organisations: OrganisationStore = OrganisationStore(), store: StageStore, logger: Logger
    ) async throws -> FileOutcome {
        do {
            let result = try await store.write { connection, logger in
                (try await organisations.apply(organisation, on: connection, logger: logger), [])
            }
            logger.info("organisation file applied", metadata: [
                "assignment.hotels.applied": "\(result.applied.joined(separator: ","))",
                "assignment.hotels.unchanged": "\(result.unchanged.joined(separator: ","))",
            ])
            if !result.applied.isEmpty {
                Counter(label: "redress_configuration_reloads_total", dimensions: [("file", "organisation"), ("result", "loaded")]).increment()
            }
            return .applied(result)
        } catch let refused as OrganisationStore.FileRefused {
            logger.error("organisation file refused; the previous organisation stays in force", metadata: [
                "configuration": "organisation",
                "assignment.staff": "\(refused.owners.map(\.description).joined(separator: ", "))",
                "assignment.complaints.open": "\(refused.owners.map(\.openComplaints).reduce(0, +))",
                LoggingKeys.error: "\(refused)",
            ])
            Counter(label: "redress_configuration_reloads_total", dimensions: [("file", "organisation"), ("result", "rejected")]).increment()
            return .refused(refused)
        }
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
