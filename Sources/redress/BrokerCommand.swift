import ArgumentParser
import ComplaintEvents
import Logging
import RdKafka
import ServiceLifecycle
import UnixSignals

/// `redress broker`: runs an embedded Kafka-protocol broker (librdkafka's mock cluster) in the
/// foreground, for development and tests. Never for production: it keeps data in memory only.
struct BrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "Run an embedded Kafka-protocol broker on loopback until SIGINT/SIGTERM.",
        discussion: """
            Prints the bootstrap address (host:port,…) as the first line of standard output; logs go to \
            standard error. Any Kafka client can use it, e.g. `kcat -b $(head -1 broker.out) -L`.
            """
    )

    @Option(help: "Number of brokers in the cluster.")
    var brokers = 1

    @Option(name: .customLong("topic"), help: "Create a topic at start, as NAME or NAME:PARTITIONS (repeatable).")
    var topics: [String] = []

    @Option(help: "Partitions of topics given without a count.")
    var defaultPartitions = 3

    @Flag(help: "Create every Redress topic (complaints.*.v1, notifications.delivered.v1, alerts.v1, the dead-letter topic).")
    var redressTopics = false

    @Option(help: "Log level (trace, debug, info, notice, warning, error, critical).")
    var logLevel: String = "info"

    func validate() throws {
        guard brokers >= 1 else { throw ValidationError("--brokers must be at least 1") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
        _ = try topicSpecifications()
    }

    func topicSpecifications() throws -> [KafkaTopicSpecification] {
        let redress = redressTopics
            ? Topics.all.map { KafkaTopicSpecification(name: $0.name, partitions: defaultPartitions, replicationFactor: min(brokers, 3)) }
            : []
        return redress + (try topics.map { argument in
            let parts = argument.split(separator: ":", omittingEmptySubsequences: false)
            guard let name = parts.first, !name.isEmpty, parts.count <= 2 else {
                throw ValidationError("--topic \(argument): expected NAME or NAME:PARTITIONS")
            }
            var partitions = defaultPartitions
            if parts.count == 2 {
                guard let count = Int(parts[1]), count > 0 else {
                    throw ValidationError("--topic \(argument): partitions must be a positive number")
                }
                partitions = count
            }
            return KafkaTopicSpecification(name: String(name), partitions: partitions, replicationFactor: min(brokers, 3))
        })
    }

    func run() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        var logger = Logger(label: "redress.broker")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info

        let cluster = try EmbeddedKafkaCluster(brokers: brokers, logger: logger)
        try cluster.ensureTopics(try topicSpecifications())
        print(cluster.bootstrapServers)
        fflushStandardOutput()
        logger.info("embedded Kafka broker running; Ctrl-C stops it", metadata: [
            "kafka.bootstrap": "\(cluster.bootstrapServers)", "kafka.brokers": "\(brokers)",
        ])

        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [EmbeddedBrokerService(cluster: cluster)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        try await group.run()
        logger.info("embedded Kafka broker stopped")
    }
}

/// Keeps the embedded cluster alive until graceful shutdown.
struct EmbeddedBrokerService: Service {
    let cluster: EmbeddedKafkaCluster

    func run() async throws {
        try? await gracefulShutdown()
        withExtendedLifetime(cluster) {}
    }
}
