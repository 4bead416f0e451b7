import ComplaintEvents
import ComplaintPipeline
import Logging
import Prometheus

/// Assembles the intake process: one consumer group for the Kafka door on `complaints.submitted.v1`
/// and the followers of classified and assigned events, and the HTTP API beside health and metrics.
public enum IntakeService {
    /// - Parameter service: `.intake`; tests pass a copy with a schema of their own.
    public static func runtime(
        service: RedressService = .intake, settings: ServiceSettings, configuration: IntakeConfiguration,
        registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), logger: Logger
    ) -> StageRuntime {
        let registrar = ComplaintRegistrar(guestKeyer: GuestKeyer(secret: configuration.guestKeySecret), topics: configuration.topics)
        let topics = configuration.topics
        var runtime = StageRuntime(
            service: service, settings: settings,
            inputs: [
                // Registered once per hotel + source + externalId with its content's fingerprint: a
                // submission whose record timestamp is past the inbox horizon (a connector stamping the
                // complaint's own time, a backfill) is registered, or answered as a replay, never dropped.
                StageInput(topics.submitted, SubmittedHandler(registrar: registrar)).applyingEventsPastInboxHorizon(),
                StageInput(topics.classified, ClassifiedHandler()),
                StageInput(topics.assigned, AssignedHandler()),
            ],
            registry: registry, logger: logger)
        runtime.deadLetterTopic = topics.deadLetter.name
        // Submissions need only PostgreSQL and the outbox: a broker outage must not take the API's
        // replicas out of the load balancer (Kafka is reported on /health/dependencies).
        runtime.readinessIncludesKafka = false
        let keys = configuration.idempotencyKeys
        runtime.backgroundServices.append(BackgroundService(name: "idempotency key retention") { resources in
            IdempotencyKeyPurge(store: resources.store, configuration: keys, logger: resources.logger)
        })
        runtime.addRoutes = { router, resources in
            IntakeAPI(
                configuration: configuration, store: resources.requestStore,
                database: resources.database, authentication: resources.authentication
            ).addRoutes(to: router)
        }
        return runtime
    }
}
