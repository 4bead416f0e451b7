import Configuration
import Foundation
import Logging
import RdKafka
import SystemPackage

/// The settings every Redress service reads at start, by precedence: environment variables first,
/// then a JSON file (`services/<name>/<name>.json` if it exists, or the file named by
/// `REDRESS_CONFIG_FILE`, which must exist), then these defaults.
///
/// | key (JSON path) | environment | default |
/// | --- | --- | --- |
/// | `kafka.brokers` | `KAFKA_BROKERS` | required |
/// | `database.url` | `DATABASE_URL` | required (a secret: never logged) |
/// | `http.host` | `HTTP_HOST` | `0.0.0.0` in containers; set `127.0.0.1` for local runs |
/// | `http.port` | `HTTP_PORT` | the service's development port |
/// | `log.level` | `LOG_LEVEL` | `info` |
/// | `shutdown.timeout.seconds` | `SHUTDOWN_TIMEOUT_SECONDS` | `25` (below Compose's and Kubernetes' 30 s kill) |
/// | `kafka.fetch.wait.max.ms` | `KAFKA_FETCH_WAIT_MAX_MS` | librdkafka's (500); `redress up` sets 10 for the embedded broker |
/// | `kafka.group.instance.id` | `KAFKA_GROUP_INSTANCE_ID` | none; set a stable, per-replica id (the pod or container name) so a restarted replica takes its partitions back without a rebalance |
/// | `kafka.session.timeout.ms` | `KAFKA_SESSION_TIMEOUT_MS` | `6000`: how long a killed replica's partitions wait before another replica takes them |
/// | `access.rate.per.second` | `ACCESS_RATE_PER_SECOND` | `50` requests per second per API key and process (bursts of twice that) |
/// | `access.key.cache.seconds` | `ACCESS_KEY_CACHE_SECONDS` | `10` (how long a revoked key may still work), 0…300; 0 looks every request's key up (the lookup limit still holds made-up keys back) |
/// | `database.timeout.ms` | `DATABASE_TIMEOUT_MS` | `5000` (each statement of an HTTP request, the server cancelling it; then 503) |
/// | `kafka.topic.prefix` | `KAFKA_TOPIC_PREFIX` | none; `staging.` makes the service read and write `staging.complaints.received.v1` and so on, with consumer group `staging.<executable>`: several environments on one cluster |
/// | `database.pool.size` | `DATABASE_POOL_SIZE` | `20` connections per process at most, 10 at least (every replica of every service counts against the server's `max_connections`) |
/// | `outbox.lease.seconds` | `OUTBOX_LEASE_SECONDS` | `60`: how long outbox rows a killed replica was publishing wait before another replica publishes them (a publish may take half of it), 25…600: the producer's message timeout is 4/5 of the publish's, at least 10 s |
/// | `database.statement.bound.seconds` | `DATABASE_STATEMENT_BOUND_SECONDS` | `60`: the longest one pipeline transaction or look-up (inbox, outbox relay, work queue) may hold its connection before it is closed and the work retried; at least 1 and at least `DATABASE_TIMEOUT_MS`. A statement sent to a host that vanished otherwise waits until the kernel gives up (~15 min) |
/// | `inbox.retention.days` | `INBOX_RETENTION_DAYS` | `9`: how long the inbox remembers a processed event (and sent outbox rows and settled intents stay); at least the input topics' `retention.ms` + `segment.ms` (`redress topics`: 7 + 1 days), since a group whose offsets expired reads again from the earliest message; older messages are passed over unapplied |
public struct ServiceSettings: Sendable, Hashable {
    public var kafkaBrokers: [String]
    public var databaseURL: String
    public var httpHost: String
    public var httpPort: Int
    public var logLevel: Logger.Level
    public var shutdownTimeout: Duration
    /// Extra librdkafka properties for the service's clients (`fetch.wait.max.ms`).
    public var kafkaProperties: [String: String] = [:]
    /// How the service's HTTP API authenticates and limits callers.
    public var access = AccessConfiguration()
    /// How long the outbox relay leases the rows it publishes (`nil`: the relay's default, 60 s).
    public var outboxLease: Duration?
    /// Put before every topic the service reads and writes, and its consumer group (`KAFKA_TOPIC_PREFIX`).
    public var topicPrefix = ""
    /// Connections the process's PostgreSQL pool opens at most (`nil`: PostgresNIO's default, 20).
    public var databasePoolSize: Int?
    /// How long the inbox remembers processed events (`nil`: the runtime's default, 9 days).
    public var inboxRetention: Duration?
    /// At most this many queued events of one partition share a transaction (`nil`: the pipeline's
    /// default, 32; 1: one transaction per event).
    public var eventsPerTransaction: Int?
    /// How long pipeline work may hold a leased connection before it is closed (`nil`: the runtime's
    /// default, ``PostgresNIO/PostgresClient/defaultStatementBound``).
    public var statementBound: Duration?

    public init(kafkaBrokers: [String], databaseURL: String, httpHost: String, httpPort: Int, logLevel: Logger.Level, shutdownTimeout: Duration) {
        self.kafkaBrokers = kafkaBrokers
        self.databaseURL = databaseURL
        self.httpHost = httpHost
        self.httpPort = httpPort
        self.logLevel = logLevel
        self.shutdownTimeout = shutdownTimeout
    }

    /// A setting is missing or unusable; the message names the environment variable to set.
    public struct Invalid: Error, CustomStringConvertible, Hashable {
        public var description: String

        public init(description: String) {
            self.description = description
        }
    }

    /// The shortest `OUTBOX_LEASE_SECONDS` that leaves the producer's `message.timeout.ms` at least
    /// ``OutboxRelay/Configuration/minimumProducerMessageTimeout`` (25: a 12.5 s publish, a 10 s message timeout).
    static var minimumOutboxLeaseSeconds: Int {
        (1...600).first {
            OutboxRelay.Configuration().leasing(.seconds($0)).producerMessageTimeout >= OutboxRelay.Configuration.minimumProducerMessageTimeout
        } ?? 600
    }

    /// The reader behind ``load(for:environment:configurationFile:)`` (environment, then JSON file), for a
    /// service's own settings: `intake.max.body.bytes` is read from `INTAKE_MAX_BODY_BYTES` or the file.
    /// - Parameters:
    ///   - configurationFile: A JSON file that must exist; `nil` uses the one `REDRESS_CONFIG_FILE` names
    ///     (which must exist too), or `services/<name>/<name>.json` if it exists.
    ///   - secrets: Environment variables whose values must never be printed.
    /// - Throws: ``Invalid`` naming the file when a file named by the argument or by `REDRESS_CONFIG_FILE`
    ///   does not exist: a typo in the name started the service on the defaults without a word.
    public static func configReader(
        for service: RedressService,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        configurationFile: String? = nil,
        secrets: Set<String> = []
    ) async throws -> ConfigReader {
        let variable = environment["REDRESS_CONFIG_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        let named = configurationFile ?? variable
        if let named, !FileManager.default.fileExists(atPath: named) {
            throw Invalid(description: configurationFile == nil
                ? "REDRESS_CONFIG_FILE names \(named), which does not exist"
                : "the configuration file \(named) does not exist")
        }
        let filePath = named ?? "services/\(service.name)/\(service.name).json"
        return ConfigReader(providers: [
            EnvironmentVariablesProvider(environmentVariables: environment, secretsSpecifier: .specific(secrets.union(["DATABASE_URL"]))),
            try await FileProvider<JSONSnapshot>(filePath: FilePath(filePath), allowMissing: named == nil),
        ])
    }

    /// Reads the settings of `service`.
    /// - Parameters:
    ///   - environment: The environment variables (the process's by default).
    ///   - configurationFile: A JSON file; `nil` uses `REDRESS_CONFIG_FILE` or `services/<name>/<name>.json`
    ///     if it exists. A named file that is missing, or a file that is present but malformed, is an error.
    public static func load(
        for service: RedressService,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        configurationFile: String? = nil
    ) async throws -> ServiceSettings {
        let config = try await configReader(for: service, environment: environment, configurationFile: configurationFile)
        guard let brokers = config.string(forKey: "kafka.brokers").flatMap({ $0.isEmpty ? nil : $0 }) else {
            throw Invalid(description: "KAFKA_BROKERS is not set (host:port[,host:port…] of the Kafka cluster)")
        }
        guard let databaseURL = config.string(forKey: "database.url", isSecret: true).flatMap({ $0.isEmpty ? nil : $0 }) else {
            throw Invalid(description: "DATABASE_URL is not set (postgres://user:password@host:port/database)")
        }
        let levelName = config.string(forKey: "log.level", default: "info")
        guard let level = Logger.Level(rawValue: levelName.lowercased()) else {
            throw Invalid(description: "LOG_LEVEL '\(levelName)' is not one of trace, debug, info, notice, warning, error, critical")
        }
        let port = try config.wholeNumber(forKey: "http.port", default: service.developmentPort)
        guard (1...65535).contains(port) else {
            throw Invalid(description: "HTTP_PORT \(port) is not a TCP port")
        }
        let timeout = try config.wholeNumber(forKey: "shutdown.timeout.seconds", default: 25)
        var kafkaProperties: [String: String] = [:]
        if let fetchWait = try config.wholeNumber(forKey: "kafka.fetch.wait.max.ms") {
            guard (0...300_000).contains(fetchWait) else {
                throw Invalid(description: "KAFKA_FETCH_WAIT_MAX_MS \(fetchWait) is not between 0 and 300000")
            }
            kafkaProperties["fetch.wait.max.ms"] = String(fetchWait)
        }
        if let instance = config.string(forKey: "kafka.group.instance.id"), !instance.isEmpty {
            kafkaProperties["group.instance.id"] = instance
        }
        if let session = try config.wholeNumber(forKey: "kafka.session.timeout.ms") {
            guard (1000...300_000).contains(session) else {
                throw Invalid(description: "KAFKA_SESSION_TIMEOUT_MS \(session) is not between 1000 and 300000")
            }
            kafkaProperties["session.timeout.ms"] = String(session)
            kafkaProperties["heartbeat.interval.ms"] = String(max(100, session / 6))
        }
        var settings = ServiceSettings(
            kafkaBrokers: KafkaBootstrap.servers(from: brokers),
            databaseURL: databaseURL,
            httpHost: config.string(forKey: "http.host", default: "0.0.0.0"),
            httpPort: port,
            logLevel: level,
            shutdownTimeout: .seconds(max(1, timeout))
        )
        settings.kafkaProperties = kafkaProperties
        if let lease = try config.wholeNumber(forKey: "outbox.lease.seconds") {
            let minimum = Self.minimumOutboxLeaseSeconds
            guard lease >= minimum else {
                throw Invalid(description: "OUTBOX_LEASE_SECONDS \(lease) is below \(minimum): a publish may take half the lease and the "
                    + "producer gives up on a message at 4/5 of that, so a shorter lease fails every message, relayed or dead-lettered, "
                    + "in under 10 s, sooner than a broker's leader election")
            }
            guard lease <= 600 else {
                throw Invalid(description: "OUTBOX_LEASE_SECONDS \(lease) is not between \(minimum) and 600")
            }
            settings.outboxLease = .seconds(lease)
        }
        if let prefix = config.string(forKey: "kafka.topic.prefix"), !prefix.isEmpty {
            guard prefix.count <= 100, prefix.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }) else {
                throw Invalid(description: "KAFKA_TOPIC_PREFIX '\(prefix)' may hold only letters, digits, '.', '_' and '-' (at most 100)")
            }
            settings.topicPrefix = prefix
        }
        if let size = try config.wholeNumber(forKey: "database.pool.size") {
            // The relay, each work-queue worker and a timer sweep hold one connection each for LISTEN.
            guard (10...500).contains(size) else {
                throw Invalid(description: "DATABASE_POOL_SIZE \(size) is not between 10 and 500 (listeners keep several connections)")
            }
            settings.databasePoolSize = size
        }
        if let days = try config.wholeNumber(forKey: "inbox.retention.days") {
            guard (1...3650).contains(days) else {
                throw Invalid(description: "INBOX_RETENTION_DAYS \(days) is not between 1 and 3650 (it must cover the input topics' retention.ms + segment.ms)")
            }
            settings.inboxRetention = .seconds(days * 86_400)
        }
        if let events = try config.wholeNumber(forKey: "pipeline.events.per.transaction") {
            guard (1...1000).contains(events) else {
                throw Invalid(description: "PIPELINE_EVENTS_PER_TRANSACTION \(events) is not between 1 and 1000")
            }
            settings.eventsPerTransaction = events
        }
        settings.access.ratePerSecond = max(1, try config.wholeNumber(forKey: "access.rate.per.second", default: 50))
        let keyCache = try config.wholeNumber(forKey: "access.key.cache.seconds", default: 10)
        guard (0...300).contains(keyCache) else {
            throw Invalid(description: "ACCESS_KEY_CACHE_SECONDS \(keyCache) is not between 0 and 300 (a revoked key works for as long)")
        }
        settings.access.keyCacheLifetime = .seconds(keyCache)
        settings.access.keyLookupsPerSecond = max(1, try config.wholeNumber(forKey: "access.key.lookups.per.second", default: 200))
        let databaseTimeout = max(100, try config.wholeNumber(forKey: "database.timeout.ms", default: 5000))
        settings.access.databaseTimeout = .milliseconds(databaseTimeout)
        if let bound = try config.wholeNumber(forKey: "database.statement.bound.seconds") {
            guard bound >= 1 else {
                throw Invalid(description: "DATABASE_STATEMENT_BOUND_SECONDS \(bound) is below 1: it is the longest a pipeline transaction may take")
            }
            guard bound <= 86_400 else {
                throw Invalid(description: "DATABASE_STATEMENT_BOUND_SECONDS \(bound) is above 86400 (a day)")
            }
            guard bound * 1000 >= databaseTimeout else {
                throw Invalid(description: "DATABASE_STATEMENT_BOUND_SECONDS \(bound) is below DATABASE_TIMEOUT_MS (\(databaseTimeout) ms): "
                    + "pipeline work would be cut shorter than the server lets an HTTP request's statement run")
            }
            settings.statementBound = .seconds(bound)
        }
        return settings
    }
}
