import Access
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

/// Everything a stage process runs besides its own logic, wired once for every service.
///
/// A service declares what is its own — ``inputs`` (topic → handler pairs), ``workPerformers`` (calls to
/// the outside world), ``backgroundServices`` (a timer sweep, say), HTTP routes — and
/// ``makeServiceGroup()`` returns, in start order (shutdown runs in reverse): the PostgreSQL client, the
/// producer, one consumer subscribed to every input topic (group id: the executable), a prelude that
/// applies the migrations and then runs the pipeline, the outbox relay, the work-queue workers,
/// retention and the background services, and the HTTP server with `/health/live`, `/health/ready`
/// (PostgreSQL reachable, checked on a ``ReadinessConnection`` outside the busy pool; Kafka reachable,
/// its input and dead-letter topics on the cluster, migrations applied, every background service running; Kafka and topics left out with ``readinessIncludesKafka`` off),
/// `/health/dependencies` (all of them) and `/metrics`. SIGTERM and SIGINT shut it down gracefully within ``ServiceSettings/shutdownTimeout``:
/// HTTP stops, the pipeline finishes its messages and stores offsets, workers settle their calls, the
/// consumer commits and leaves its group, the producer flushes, PostgreSQL closes.
public struct StageRuntime: Sendable {
    public var service: RedressService
    public var settings: ServiceSettings
    /// The topics the stage consumes and the handler of each, on one consumer group.
    public var inputs: [StageInput]
    /// Performers of the stage's recorded intents; each gets a ``WorkQueueWorker``.
    public var workPerformers: [any WorkPerformer] = []
    /// The stage's own long-running services, started after the migrations.
    public var backgroundServices: [BackgroundService] = []
    public var workerConfiguration = WorkQueueWorker.Configuration()
    public var relayConfiguration = OutboxRelay.Configuration()
    public var retention = RetentionService.Configuration()
    /// Served on `/metrics`; pass the one ``Observability/bootstrap(settings:service:)`` returned.
    public var registry: PrometheusCollectorRegistry
    public var logger: Logger
    /// Extra Kafka properties for both clients (e.g. `fetch.wait.max.ms` on the embedded broker).
    public var kafkaProperties: [String: String] = [:]
    /// Called with the HTTP port once the server listens (useful with port 0).
    public var onServerRunning: @Sendable (Int) async -> Void = { _ in }
    /// Dead letters go here (tests rename it to stay isolated).
    public var deadLetterTopic: String = Topics.deadLetter.name
    /// Adds the service's own HTTP API (intake's `/v1/complaints`, say) beside the operational routes;
    /// protect it with ``StageResources/authentication``.
    public var addRoutes: @Sendable (Router<RedressRequestContext>, StageResources) -> Void = { _, _ in }
    /// How the service's API authenticates callers against the shared `access` schema.
    public var access = AccessConfiguration()
    /// Migrations applied instead of ``RedressService/migrations(requireOwn:)`` (tests).
    public var migrationsOverride: [MigrationSet]?
    /// Runs after the migrations and before the pipeline and background services start (assignment
    /// loads its organisation file here); retried like the migrations while it fails.
    public var afterMigrations: (@Sendable (StageResources) async throws -> Void)?
    /// `false` for a replay (`redress replay`): output events stay in the outbox, dead letters and
    /// work-queue intents are recorded but neither published nor performed, so nothing outside the
    /// stage's own schema changes.
    public var publishes = true
    /// Where the pipeline stops reading (see ``PipelineConfiguration/stopOffsets``); a replay's end.
    public var stopOffsets: [String: [Int32: Int64]]?
    /// The message timestamps applied (see ``PipelineConfiguration/timestamps``); a replay's range.
    public var timestamps: Range<Int64>?
    /// Observes what became of each consumed message (a replay counts them; tests simulate crashes).
    public var pipelineHooks = EventPipelineService.CrashPoints()
    /// Whether `/health/ready` (what an orchestrator routes traffic by) requires Kafka and the stage's
    /// topics. `false` for a service whose HTTP API needs only PostgreSQL and the outbox (intake: its
    /// submissions must go on through a broker outage, the outbox publishes them afterwards); Kafka and
    /// the topics are then reported on `/health/dependencies` only. Either way the consumer's work
    /// resumes by itself once the broker is back.
    public var readinessIncludesKafka = true
    /// Learns about migrations and background services; `/health/ready` reads it.
    public let health = StageHealth()
    /// How long the relay's or a worker's rounds may all fail before `/health/dependencies` reports it
    /// stalled (it runs, so `/health/ready` cannot tell; its backlog gauges' ages grow).
    public var stallAfter: Duration = .seconds(300)

    public init(
        service: RedressService,
        settings: ServiceSettings,
        inputs: [StageInput],
        registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        logger: Logger
    ) {
        self.service = service
        self.settings = settings
        self.inputs = inputs
        self.registry = registry
        self.logger = logger
        self.kafkaProperties = settings.kafkaProperties
        self.access = settings.access
    }

    /// Builds the process's services.
    /// - Throws: A ``MissingMigrations`` if the service's migrations folder cannot be found, or a
    ///   configuration error of the database URL or a Kafka client.
    public func makeServiceGroup() throws -> ServiceGroup {
        // The shared access schema first: services' own migrations may rely on it. A replay (nothing
        // published) leaves it alone: a newer command must not migrate what running services share.
        let allMigrations = try (publishes ? [AccessTables.migrations()] : []) + (migrationsOverride ?? service.migrations())
        var databaseConfiguration = try DatabaseConfiguration(url: settings.databaseURL)
        // `pg_stat_activity` and the server's logs say which service a connection belongs to.
        if databaseConfiguration.applicationName == nil { databaseConfiguration.applicationName = service.executable }
        // The service's own pool: every connection starts with the service's schema on its search_path.
        var clientConfiguration = databaseConfiguration.makeClientConfiguration(searchPath: service.schema)
        if let size = settings.databasePoolSize { clientConfiguration.options.maximumConnections = size }
        let client = PostgresClient(configuration: clientConfiguration, backgroundLogger: logger)
        // Readiness checks PostgreSQL on a connection of its own: a pool held by a burst of requests
        // and a backlog is busy, not down, and waiting for a lease made every replica unready at once.
        let readinessConnection = ReadinessConnection(configuration: try databaseConfiguration.makeConnectionConfiguration(), logger: logger)

        var relayConfiguration = self.relayConfiguration
        // Several environments on one cluster: every topic read and written, and the group, under a prefix.
        let prefix = settings.topicPrefix
        let inputs = self.inputs.map { $0.prefixed(prefix) }
        let deadLetterTopic = prefix + self.deadLetterTopic
        relayConfiguration.topicPrefix = prefix
        if let lease = settings.outboxLease { relayConfiguration = relayConfiguration.leasing(lease) }
        if let bound = settings.statementBound { relayConfiguration.statementBound = bound }
        var producerConfiguration = KafkaProducerConfiguration(bootstrapServers: settings.kafkaBrokers, clientID: "\(service.executable)-producer")
        // librdkafka gives up on each message before the relay stops waiting for it; the relay's rounds ride out an outage.
        producerConfiguration.messageTimeout = min(producerConfiguration.messageTimeout, relayConfiguration.producerMessageTimeout)
        // Consumer-only properties would make librdkafka warn on the producer.
        producerConfiguration.additionalProperties = kafkaProperties.filter { !consumerOnlyKafkaProperties.contains($0.key) }
        let producer = try KafkaProducer(configuration: producerConfiguration, logger: logger)
        let database = DatabaseGuard(timeout: access.databaseTimeout, logger: logger)
        let authentication = AuthenticationMiddleware(
            keys: APIKeyStore(schema: access.schema, cacheLifetime: access.keyCacheLifetime),
            limiter: RateLimiter(defaultRate: access.ratePerSecond), client: client, database: database,
            lookupsPerSecond: access.keyLookupsPerSecond, logger: logger)
        var stageResources = StageResources(
            service: service, client: client, producer: producer, database: database, authentication: authentication,
            store: StageStore(client: client, schema: service.schema, connectionsUseSchema: true, logger: logger), logger: logger)

        var retention = self.retention
        if let age = settings.inboxRetention { retention.age = age }
        var background: [(name: String, service: any Service)] = []
        var clients: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: client), .init(service: readinessConnection), .init(service: producer),
        ]
        if !inputs.isEmpty {
            var consumerConfiguration = KafkaConsumerConfiguration(
                bootstrapServers: settings.kafkaBrokers, groupID: prefix + service.executable,
                topics: inputs.map(\.topic), clientID: "\(service.executable)-consumer")
            // Fetched chunks of about 256 KiB per partition (librdkafka's default is 1 MiB): under a
            // backlog the consumer's queue then interleaves partitions within the pipeline's in-flight
            // window, and every partition's lane stays busy.
            consumerConfiguration.additionalProperties = ["max.partition.fetch.bytes": "262144"].merging(kafkaProperties) { _, given in given }
            // The pipeline lets go of a revoked partition (drops what it read ahead, finishes what it
            // applies) before its next owner reads it: no event is prepared by two replicas.
            consumerConfiguration.isRevocationHandled = true
            let consumer = try KafkaConsumer(configuration: consumerConfiguration, logger: logger)
            clients.append(.init(service: consumer))
            stageResources.consumer = consumer
            var deadLetters = DeadLetterPublisher(producer: producer, serviceName: service.name, topic: deadLetterTopic, logger: logger)
            deadLetters.publishes = publishes
            var pipelineConfiguration = PipelineConfiguration(serviceName: service.name, schema: service.schema)
            pipelineConfiguration.connectionsUseSchema = true
            pipelineConfiguration.stopOffsets = stopOffsets
            pipelineConfiguration.timestamps = timestamps
            // What the inbox has forgotten cannot be told from what is new (a replay's fresh schema
            // remembers nothing and applies everything in its range).
            if publishes { pipelineConfiguration.inboxHorizon = retention.age }
            if let events = settings.eventsPerTransaction { pipelineConfiguration.maximumEventsPerTransaction = events }
            if let bound = settings.statementBound { pipelineConfiguration.statementBound = bound }
            background.append(("pipeline", EventPipelineService(
                inputs: inputs, consumer: consumer, client: client, deadLetters: deadLetters,
                configuration: pipelineConfiguration, crashPoints: pipelineHooks, logger: logger)))
        }
        if publishes {
            background.append(("outbox relay", OutboxRelay(
                outbox: Outbox(schema: service.schema), client: client, producer: producer,
                deadLetters: DeadLetterPublisher(producer: producer, serviceName: service.name, topic: deadLetterTopic, logger: logger),
                configuration: relayConfiguration, rounds: RoundReporter(health: health, name: "outbox relay"), logger: logger)))
        }
        var workerConfiguration = self.workerConfiguration
        workerConfiguration.connectionsUseSchema = true
        if let bound = settings.statementBound { workerConfiguration.statementBound = bound }
        for performer in workPerformers where publishes {
            let name = "worker \(performer.kinds.joined(separator: ","))"
            background.append((name, WorkQueueWorker(
                performer: performer, schema: service.schema, client: client, configuration: workerConfiguration,
                rounds: RoundReporter(health: health, name: name), logger: logger)))
        }
        background.append(("backlog gauges", BacklogGauges(
            tables: RuntimeTables(schema: service.schema), client: client,
            handledKinds: publishes ? workPerformers.flatMap(\.kinds) : nil, logger: logger)))
        background.append(("retention", RetentionService(
            tables: RuntimeTables(schema: service.schema), client: client, configuration: retention, logger: logger)))
        let resources = stageResources
        for extra in backgroundServices {
            background.append((extra.name, extra.make(resources)))
        }

        let logger = self.logger
        let health = self.health
        let afterMigrations = self.afterMigrations
        let prelude = PreludeService(name: "migrations", health: health, logger: logger, prelude: {
            _ = try await Migrator(client: client, logger: logger).apply(allMigrations)
            try await afterMigrations?(resources)
        }, then: background)

        let router = Router(context: RedressRequestContext.self)
        // Before any route: a router's middleware applies only to routes added after it.
        router.add(middleware: ProblemMiddleware())
        router.add(middleware: MetricsMiddleware())
        // Hummingbird's, with the credential of a guest's survey link left out of the logged path.
        router.add(middleware: RedactingLogRequestsMiddleware(.debug))
        let checksDeadLetters = publishes && !inputs.isEmpty
        let kafkaChecks = [
            ReadinessCheck(name: "kafka") { try await producer.checkConnectivity(timeout: .seconds(2)) },
            // A topic the stage reads that the cluster lacks (auto-creation off, a prefix without its
            // topics): the consumer would wait for ever while everything else looks healthy.
            ReadinessCheck(name: "topics") {
                let missing = try await producer.missingTopics(inputs.map(\.topic) + (checksDeadLetters ? [deadLetterTopic] : []), timeout: .seconds(2))
                if !missing.isEmpty { throw StageNotReady(description: "missing topics: \(missing.joined(separator: ", ")) (create them: redress topics)") }
            },
        ]
        let ownChecks = [
            ReadinessCheck(name: "postgres") { try await readinessConnection.check(timeout: .seconds(2)) },
            ReadinessCheck(name: "stage") {
                if let problem = health.problem { throw StageNotReady(description: problem) }
            },
        ]
        let stallAfter = self.stallAfter
        // Not in readiness: a relay stalled by a broker outage must not take intake's API out (see
        // readinessIncludesKafka), and taking a stage out of routing restarts nothing.
        let progress = ReadinessCheck(name: "progress") {
            let stalled = health.stalled(for: stallAfter)
            if !stalled.isEmpty { throw StageNotReady(description: stalled.joined(separator: "; ")) }
        }
        addOperationalRoutes(
            to: router, readiness: ownChecks + (readinessIncludesKafka ? kafkaChecks : []),
            dependencies: (readinessIncludesKafka ? [] : kafkaChecks) + [progress], registry: registry, logger: logger)
        addRoutes(router, resources)
        let onServerRunning = self.onServerRunning
        let application = Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(settings.httpHost, port: settings.httpPort), serverName: service.executable),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
            logger: logger)

        var configuration = ServiceGroupConfiguration(
            services: clients + [.init(service: prelude), .init(service: application)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        configuration.maximumGracefulShutdownDuration = settings.shutdownTimeout
        return ServiceGroup(configuration: configuration)
    }
}

/// A long-running part of a stage beyond the pipeline (a timer sweep, a purge job), built from the
/// stage's shared clients and started once its migrations are applied.
public struct BackgroundService: Sendable {
    /// Names it in logs and in `/health/ready`.
    public var name: String
    let make: @Sendable (StageResources) -> any Service

    public init(name: String, make: @escaping @Sendable (StageResources) -> any Service) {
        self.name = name
        self.make = make
    }
}

/// The shared clients a stage's own routes and background services use; ``StageRuntime`` runs them.
public struct StageResources: Sendable {
    public var service: RedressService
    /// The service's PostgreSQL pool (write only the service's own schema).
    public var client: PostgresClient
    /// The idempotent producer the outbox relay and the dead-letter publisher use.
    public var producer: KafkaProducer
    /// Bounds a request's database work and answers 503 promptly while PostgreSQL is away.
    public var database: DatabaseGuard
    /// Add it to a route group to require an API key: the caller lands in the request context.
    public var authentication: AuthenticationMiddleware
    /// Transactions on the service's own schema, for its background work (no statement timeout).
    public var store: StageStore
    /// ``store`` for its routes: the server cancels a statement when the ``database`` guard gives up on it.
    public var requestStore: StageStore { store.boundingStatements(by: database.timeout) }
    public var logger: Logger
    /// The consumer of the stage's inputs (`nil` without inputs), for a background service that must know
    /// how far they are read (``KafkaConsumer/inputProgress(timeout:)``); the pipeline alone reads it.
    public var consumer: KafkaConsumer?
}

/// How a service's HTTP API checks callers (keys in the shared `access` schema).
///
/// | key | environment | default |
/// | --- | --- | --- |
/// | `access.rate.per.second` | `ACCESS_RATE_PER_SECOND` | 50 requests per second per key (bursts of twice that) |
/// | `access.key.cache.seconds` | `ACCESS_KEY_CACHE_SECONDS` | 10 (a revocation takes effect within that time) |
/// | `database.timeout.ms` | `DATABASE_TIMEOUT_MS` | 5000 (each statement of a request, the server cancelling it; then 503) |
/// | `access.key.lookups.per.second` | `ACCESS_KEY_LOOKUPS_PER_SECOND` | 200 (keys not in the cache looked up per second; then 429) |
public struct AccessConfiguration: Sendable, Hashable {
    public var schema: SchemaName = AccessTables.schema
    public var ratePerSecond = 50
    public var keyCacheLifetime: Duration = .seconds(10)
    /// Lookups of keys the cache does not know, per second and process.
    public var keyLookupsPerSecond = 200
    public var databaseTimeout: Duration = .seconds(5)
    public init() {}
}

/// `/health/ready`'s reason when migrations are pending or a background service stopped.
struct StageNotReady: Error, CustomStringConvertible {
    var description: String
}

extension OutboxRelay.Configuration {
    /// The shortest `message.timeout.ms` an `OUTBOX_LEASE_SECONDS` may give the stage's producer: a
    /// broker's leader election takes a few seconds, and every message (relay rows and dead letters
    /// alike) given up during one would be retried, the idempotent producer bumping its epoch each time.
    static let minimumProducerMessageTimeout: Duration = .seconds(10)

    /// This configuration with its rows leased for `lease`: a publish may take half of it (at most the
    /// default), and the producer's message timeout follows (``producerMessageTimeout``).
    func leasing(_ lease: Duration) -> Self {
        var configuration = self
        configuration.lease = lease
        configuration.publishTimeout = min(configuration.publishTimeout, lease / 2)
        return configuration
    }
}

/// librdkafka properties that only consumers accept.
let consumerOnlyKafkaProperties: Set<String> = [
    "fetch.wait.max.ms", "fetch.min.bytes", "heartbeat.interval.ms", "session.timeout.ms", "group.instance.id",
    "max.partition.fetch.bytes",
]
