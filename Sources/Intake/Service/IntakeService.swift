import ComplaintEvents
import ComplaintPipeline
import Logging
import Prometheus

/// Assembles the intake process: the Kafka door on `complaints.submitted.v1`, the followers of
/// classified and assigned events, and the HTTP API beside health and metrics.
public enum IntakeService {
    /// - Parameter service: `.intake`; tests pass a copy with a schema of their own.
    public static func runtime(
        service: RedressService = .intake, settings: ServiceSettings, configuration: IntakeConfiguration,
        registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), logger: Logger
    ) -> StageRuntime<SubmittedHandler> {
        var adjusted = configuration
        adjusted.schema = service.schema
        let configuration = adjusted
        let registrar = ComplaintRegistrar(
            schema: configuration.schema, guestKeyer: GuestKeyer(secret: configuration.guestKeySecret), topics: configuration.topics)
        var runtime = StageRuntime(
            service: service, settings: settings, handler: SubmittedHandler(registrar: registrar), registry: registry, logger: logger)
        runtime.deadLetterTopic = configuration.topics.deadLetter.name
        runtime.additionalInputs = [
            AdditionalInput(name: "classified", handler: ClassifiedHandler(schema: configuration.schema, topics: configuration.topics)),
            AdditionalInput(name: "assigned", handler: AssignedHandler(schema: configuration.schema, topics: configuration.topics)),
        ]
        runtime.addRoutes = { router, resources in
            IntakeAPI(configuration: configuration, client: resources.client, logger: resources.logger).addRoutes(to: router)
        }
        return runtime
    }
}
