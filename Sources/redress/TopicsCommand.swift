import ArgumentParser
import ComplaintEvents
import EventTail
import Foundation
import Logging
import RdKafka

/// `redress topics`: creates every Redress topic on a real Kafka cluster (what Compose's init step
/// runs), keeping events no longer than the services' inboxes remember them (`retention.ms` plus one
/// `segment.ms`, since Kafka deletes whole segments) and dead letters longer
/// (``RedressTopicSpecifications``); existing topics are left alone.
struct TopicsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topics",
        abstract: "Create every Redress topic that is missing on the cluster in KAFKA_BROKERS."
    )

    @OptionGroup var kafka: KafkaOptions

    @Option(help: "Partitions per topic (complaints are keyed by id, so more partitions = more parallel consumers).")
    var partitions = 6

    @Option(help: "Replication factor (3 in production clusters).")
    var replicationFactor = 1

    @OptionGroup var prefix: PrefixedTopicsOption<PrefixHelp>

    @Option(help: ArgumentHelp(
        "Days each topic keeps its events (retention.ms; segment.ms is 1 day); at most the services' INBOX_RETENTION_DAYS (default 9) minus 1.",
        discussion: "Kafka deletes whole segments, so an event stays readable up to retention.ms + segment.ms (here --retention-days + 1 days). A consumer group whose offsets expired reads again from the earliest event still kept, and only the inbox tells an event applied before from a new one: keep INBOX_RETENTION_DAYS at least --retention-days + 1 (the services pass over, unapplied, any event older than the inbox remembers). A longer history (metrics rebuild, sla backtest, replay) needs both raised."))
    var retentionDays = 7

    @Option(help: "Days complaints.deadletter.v1 keeps what the services could not process (read by operators, by no service), so that bad input is not lost before someone has looked at it.")
    var deadLetterRetentionDays = RedressTopicSpecifications.defaultDeadLetterRetentionDays

    func validate() throws {
        guard (1...3650).contains(retentionDays) else { throw ValidationError("--retention-days must be between 1 and 3650") }
        guard (1...3650).contains(deadLetterRetentionDays) else { throw ValidationError("--dead-letter-retention-days must be between 1 and 3650") }
    }

    func run() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let logger = Logger(label: "redress.topics")
        let admin = try KafkaAdminClient(bootstrapServers: try kafka.servers(), logger: logger)
        let prefix = self.prefix.topicPrefix
        let specifications = RedressTopicSpecifications.specifications(
            prefix: prefix, partitions: partitions, replicationFactor: replicationFactor, retentionDays: retentionDays,
            deadLetterRetentionDays: deadLetterRetentionDays)
        let names = specifications.map(\.name)
        let created = try await admin.createTopics(specifications)
        for topic in names {
            print("\(topic): \(created.contains(topic) ? "created" : "exists")")
        }
    }
}

extension TopicsCommand {
    /// `--prefix` as topics uses it: the names it creates.
    enum PrefixHelp: TopicPrefixHelp {
        static let help = "Put before every topic name, as services started with the same KAFKA_TOPIC_PREFIX read and write them (default: $KAFKA_TOPIC_PREFIX)."
    }
}
