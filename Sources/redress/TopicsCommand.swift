import ArgumentParser
import ComplaintEvents
import Foundation
import Logging
import RdKafka

/// `redress topics`: creates every Redress topic on a real Kafka cluster (what Compose's init step
/// runs); existing topics are left alone.
struct TopicsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topics",
        abstract: "Create every Redress topic that is missing on the cluster in KAFKA_BROKERS."
    )

    @Option(help: "Kafka bootstrap servers (default: $KAFKA_BROKERS, else <data-dir>/up.env).")
    var brokers: String?

    @Option(help: "Where `redress up` keeps its state (its up.env gives the defaults).")
    var dataDir = ".redress"

    @Option(help: "Partitions per topic (complaints are keyed by id, so more partitions = more parallel consumers).")
    var partitions = 6

    @Option(help: "Replication factor (3 in production clusters).")
    var replicationFactor = 1

    @Option(help: "Put before every topic name, as services started with the same KAFKA_TOPIC_PREFIX read and write them (default: $KAFKA_TOPIC_PREFIX).")
    var prefix: String?

    func run() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let logger = Logger(label: "redress.topics")
        let brokers = try ProcessInfoEnvironment.setting(brokers, variable: "KAFKA_BROKERS", option: "--brokers", dataDir: dataDir, what: "Kafka")
        let admin = try KafkaAdminClient(bootstrapServers: KafkaBootstrap.servers(from: brokers), logger: logger)
        let prefix = self.prefix ?? ProcessInfo.processInfo.environment["KAFKA_TOPIC_PREFIX"] ?? ""
        let names = Topics.all.map { prefix + $0.name }
        let specifications = names.map {
            KafkaTopicSpecification(name: $0, partitions: partitions, replicationFactor: replicationFactor)
        }
        let created = try await admin.createTopics(specifications)
        for topic in names {
            print("\(topic): \(created.contains(topic) ? "created" : "exists")")
        }
    }
}
