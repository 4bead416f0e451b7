import ComplaintEvents
import ComplaintStore
import Hummingbird
import Logging
import NIOCore
import PostgresNIO
import Prometheus
import RdKafka
import ServiceLifecycle
import UnixSignals

/// Everything a stage process runs besides its handler, wired once for all six services.
///
/// ``makeServiceGroup()`` returns, in start order (shutdown runs in reverse): the PostgreSQL client,
/// the producer, the consumer, the migrations prelude gating the pipeline and the outbox relay, and
/// the HTTP server with `/health/live`, `/health/ready` (PostgreSQL and Kafka reachable) and
/// `/metrics`. SIGTERM and SIGINT shut it down gracefully within ``ServiceSettings/shutdownTimeout``:
/// HTTP stops, the pipeline finishes its message and stores offsets, the consumer commits and leaves
/// its group, the producer flushes, PostgreSQL closes.
public struct StageRuntime<Handler: EventHandler> {
    public var service: RedressService
    public var settings: ServiceSettings
    public var handler: Handler
    /// The service's own migrations, applied after its runtime tables.
    public var migrations: [MigrationSet]
    /// Served on `/metrics`; pass the one ``Observability/bootstrap(settings:service:)`` returned.
    public var registry: PrometheusCollectorRegistry
    public var logger: Logger
    /// Extra Kafka properties for both clients (e.g. `fetch.wait.max.ms` on the embedded broker).
    public var kafkaProperties: [String: String] = [:]
    /// Called with the HTTP port once the server listens (useful with port 0).
    public var onServerRunning: @Sendable (Int) async -> Void = { _ in }
    /// Further topics the process follows, each with its own handler and consumer group
    /// (`<executable>-<name>`): intake keeps its record current from classified and assigned events.
    public var additionalInputs: [AdditionalInput] = []
    /// Dead letters go here (tests rename it to stay isolated).
    public var deadLetterTopic: String = Topics.deadLetter.name
    /// Adds the service's own HTTP API (intake's `/v1/complaints`, say) beside the operational routes.
    public var addRoutes: @Sendable (Router<BasicRequestContext>, StageResources) -> Void = { _, _ in }

    public init(
        service: RedressService,
        settings: ServiceSettings,
        handler: Handler,
        migrations: [MigrationSet] = [],
        registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        logger: Logger
    ) {
        self.service = service
        self.settings = settings
        self.handler = handler
        self.migrations = migrations
        self.registry = registry
        self.logger = logger
        self.kafkaProperties = settings.kafkaProperties
    }

    public func makeServiceGroup() throws -> ServiceGroup {
        let database = try DatabaseConfiguration(url: settings.databaseURL)
        let client = PostgresClient(configuration: database.makeClientConfiguration(), backgroundLogger: logger)

        var producerConfiguration = KafkaProducerConfiguration(bootstrapServers: settings.kafkaBrokers, clientID: "\(service.executable)-producer")
        // Consumer-only properties would make librdkafka warn on the producer.
        producerConfiguration.additionalProperties = kafkaProperties.filter { !consumerOnlyKafkaProperties.contains($0.key) }
        let producer = try KafkaProducer(configuration: producerConfiguration, logger: logger)
        var consumerConfiguration = KafkaConsumerConfiguration(
            bootstrapServers: settings.kafkaBrokers, groupID: service.executable,
            topics: [handler.inputTopic.name], clientID: "\(service.executable)-consumer")
        consumerConfiguration.additionalProperties = kafkaProperties
        let consumer = try KafkaConsumer(configuration: consumerConfiguration, logger: logger)

        let deadLetters = DeadLetterPublisher(producer: producer, serviceName: service.name, topic: deadLetterTopic, logger: logger)
        let pipeline = EventPipelineService(
            handler: handler, consumer: consumer, client: client,
            deadLetters: deadLetters,
            configuration: PipelineConfiguration(serviceName: service.name, schema: service.schema),
            logger: logger)
        var followers: [(consumer: KafkaConsumer, pipeline: any Service)] = []
        for input in additionalInputs {
            var configuration = KafkaConsumerConfiguration(
                bootstrapServers: settings.kafkaBrokers, groupID: "\(service.executable)-\(input.name)",
                topics: [input.topic], clientID: "\(service.executable)-\(input.name)-consumer")
            configuration.additionalProperties = kafkaProperties
            let consumer = try KafkaConsumer(configuration: configuration, logger: logger)
            followers.append((consumer, input.makePipeline(consumer, client, deadLetters, service, logger)))
        }
        let relay = OutboxRelay(outbox: Outbox(schema: service.schema), client: client, producer: producer, logger: logger)
        let allMigrations = try service.migrations() + migrations
        let logger = self.logger
        let prelude = PreludeService(name: "migrations", logger: logger, prelude: {
            _ = try await Migrator(client: client, logger: logger).apply(allMigrations)
        }, then: [pipeline, relay] + followers.map(\.pipeline))

        let router = Router()
        addOperationalRoutes(to: router, readiness: [
            ReadinessCheck(name: "postgres") { _ = try await client.query("SELECT 1", logger: logger).collect() },
            ReadinessCheck(name: "kafka") { try await producer.checkConnectivity(timeout: .seconds(2)) },
        ], registry: registry)
        addRoutes(router, StageResources(client: client, producer: producer, logger: logger))
        let onServerRunning = self.onServerRunning
        let application = Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(settings.httpHost, port: settings.httpPort), serverName: service.executable),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
            logger: logger)

        var configuration = ServiceGroupConfiguration(
            services: [
                .init(service: client),
                .init(service: producer),
                .init(service: consumer),
            ] + followers.map { .init(service: $0.consumer) } + [
                .init(service: prelude),
                .init(service: application),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        configuration.maximumGracefulShutdownDuration = settings.shutdownTimeout
        return ServiceGroup(configuration: configuration)
    }
}

/// The shared clients a stage's own HTTP routes may use; ``StageRuntime`` runs them as services.
public struct StageResources: Sendable {
    /// The service's PostgreSQL pool (write only the service's own schema).
    public var client: PostgresClient
    /// The idempotent producer the outbox relay and the dead-letter publisher use.
    public var producer: KafkaProducer
    public var logger: Logger
}

/// Another topic a stage's process consumes, with its own handler; see ``StageRuntime/additionalInputs``.
public struct AdditionalInput: Sendable {
    /// Names the consumer group suffix (`redress-intake-classified`).
    public var name: String
    public var topic: String
    let makePipeline: @Sendable (KafkaConsumer, PostgresClient, DeadLetterPublisher, RedressService, Logger) -> any Service

    public init<Handler: EventHandler>(name: String, handler: Handler) {
        self.name = name
        self.topic = handler.inputTopic.name
        self.makePipeline = { consumer, client, deadLetters, service, logger in
            EventPipelineService(
                handler: handler, consumer: consumer, client: client, deadLetters: deadLetters,
                configuration: PipelineConfiguration(serviceName: service.name, schema: service.schema), logger: logger)
        }
    }
}

/// librdkafka properties that only consumers accept.
let consumerOnlyKafkaProperties: Set<String> = ["fetch.wait.max.ms", "fetch.min.bytes", "heartbeat.interval.ms", "session.timeout.ms"]
