import ArgumentParser
import ComplaintEvents
import Foundation
import Logging
import RdKafka

/// `redress topics`: creates every Redress topic on a real Kafka cluster (what Compose's init step
/// runs), keeping events as long as the services' inboxes remember them; existing topics are left alone.
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

    @Option(help: ArgumentHelp(
        "Days each topic keeps its events (retention.ms); at most the services' INBOX_RETENTION_DAYS (default 7).",
        discussion: "A consumer group whose offsets expired reads again from the earliest event still kept, and only the inbox tells an event applied before from a new one: keep the topics no longer than the inbox remembers, or raise INBOX_RETENTION_DAYS with them. A longer history (metrics rebuild, sla backtest, replay) needs both raised."))
    var retentionDays = 7

    func validate() throws {
        guard (1...3650).contains(retentionDays) else { throw ValidationError("--retention-days must be between 1 and 3650") }
    }

    func run() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let logger = Logger(label: "redress.topics")
        let brokers = try ProcessInfoEnvironment.setting(brokers, variable: "KAFKA_BROKERS", option: "--brokers", dataDir: dataDir, what: "Kafka")
        let admin = try KafkaAdminClient(bootstrapServers: KafkaBootstrap.servers(from: brokers), logger: logger)
        let prefix = self.prefix ?? ProcessInfo.processInfo.environment["KAFKA_TOPIC_PREFIX"] ?? ""
        let specifications = Self.specifications(prefix: prefix, partitions: partitions, replicationFactor: replicationFactor, retentionDays: retentionDays)
        let names = specifications.map(\.name)
        let created = try await admin.createTopics(specifications)
        for topic in names {
            print("\(topic): \(created.contains(topic) ? "created" : "exists")")
        }
    }

    /// Every Redress topic as this command creates it (also `redress up --external`).
    static func specifications(prefix: String, partitions: Int, replicationFactor: Int, retentionDays: Int) -> [KafkaTopicSpecification] {
        Topics.all.map {
            KafkaTopicSpecification(
                name: prefix + $0.name, partitions: partitions, replicationFactor: replicationFactor,
                configuration: ["retention.ms": "\(Int64(retentionDays) * 86_400_000)"])
        }
    }
}
