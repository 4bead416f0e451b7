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
        var adjusted = configuration
        adjusted.schema = service.schema
        let configuration = adjusted
        let registrar = ComplaintRegistrar(
            schema: configuration.schema, guestKeyer: GuestKeyer(secret: configuration.guestKeySecret), topics: configuration.topics)
        let topics = configuration.topics
        var runtime = StageRuntime(
            service: service, settings: settings,
            inputs: [
                StageInput(topics.submitted, SubmittedHandler(registrar: registrar)),
                StageInput(topics.classified, ClassifiedHandler(schema: configuration.schema)),
                StageInput(topics.assigned, AssignedHandler(schema: configuration.schema)),
            ],
            registry: registry, logger: logger)
        runtime.deadLetterTopic = topics.deadLetter.name
        runtime.addRoutes = { router, resources in
            IntakeAPI(configuration: configuration, client: resources.client, logger: resources.logger).addRoutes(to: router)
        }
        return runtime
    }
}
