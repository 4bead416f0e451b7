import Foundation
import Logging
import RdKafka

/// The Kafka a test talks to: a real cluster when `KAFKA_BROKERS` is set, otherwise a fresh embedded
/// (librdkafka mock) cluster owned by this value.
///
/// Topics get unique names, so tests never see each other's messages, on either kind of cluster.
public struct KafkaTestEnvironment: Sendable {
    /// Brokers every client of the test uses.
    public let bootstrapServers: [String]
    /// The embedded cluster, or `nil` when the test runs against an external Kafka.
    public let embedded: EmbeddedKafkaCluster?
    public let logger: Logger

    /// `true` when `KAFKA_BROKERS` names an external cluster; fault-injection tests skip then.
    public static var usesExternalKafka: Bool {
        !(ProcessInfo.processInfo.environment["KAFKA_BROKERS"] ?? "").isEmpty
    }

    /// Starts an embedded cluster of `brokers` brokers, or connects to `KAFKA_BROKERS`.
    public init(brokers: Int = 1, logger: Logger = .kafkaTest) throws {
        self.logger = logger
        if let external = ProcessInfo.processInfo.environment["KAFKA_BROKERS"], !external.isEmpty {
            self.bootstrapServers = KafkaBootstrap.servers(from: external)
            self.embedded = nil
        } else {
            let cluster = try EmbeddedKafkaCluster(brokers: brokers, logger: logger)
            self.bootstrapServers = KafkaBootstrap.servers(from: cluster.bootstrapServers)
            self.embedded = cluster
        }
    }

    /// Creates a topic with a unique name and returns the name.
    public func makeTopic(prefix: String = "test", partitions: Int = 3) async throws -> String {
        let name = "\(prefix)-\(UUID().uuidString.lowercased())"
        try await createTopic(name, partitions: partitions)
        return name
    }

    /// Creates topic `name` (make it unique to the test).
    public func createTopic(_ name: String, partitions: Int = 3) async throws {
        if let embedded {
            try embedded.createTopic(name, partitions: partitions)
        } else {
            let admin = try KafkaAdminClient(bootstrapServers: bootstrapServers, logger: logger)
            try await admin.createTopics([KafkaTopicSpecification(name: name, partitions: partitions)])
        }
    }

    /// How many messages `topic` holds (end minus start offsets over its partitions), read from the
    /// watermarks: "nothing was published" checked at once, without joining a group and waiting.
    public func messageCount(of topic: String) async throws -> Int64 {
        let admin = try KafkaAdminClient(bootstrapServers: bootstrapServers, logger: logger)
        let progress = try await admin.progress(of: "message-count-\(UUID().uuidString.lowercased())", on: [topic])
        return progress.partitions.reduce(0) { $0 + ($1.end - $1.start) }
    }

    /// A producer configuration for tests: Redress defaults, quick polling.
    public func producerConfiguration(clientID: String = "test-producer") -> KafkaProducerConfiguration {
        var configuration = KafkaProducerConfiguration(bootstrapServers: bootstrapServers, clientID: clientID)
        configuration.pollInterval = .milliseconds(20)
        configuration.shutdownFlushTimeout = .seconds(20)
        return configuration
    }

    /// A consumer configuration for tests. `fetch.wait.max.ms` is short because the embedded cluster
    /// holds every empty fetch for that long.
    public func consumerConfiguration(groupID: String = "test-\(UUID().uuidString.lowercased())", topics: [String]) -> KafkaConsumerConfiguration {
        var configuration = KafkaConsumerConfiguration(bootstrapServers: bootstrapServers, groupID: groupID, topics: topics, clientID: "test-consumer")
        configuration.pollInterval = .milliseconds(50)
        configuration.sessionTimeout = .seconds(6)
        configuration.autoCommitInterval = .milliseconds(200)
        configuration.additionalProperties = [
            "fetch.wait.max.ms": "10",
            "heartbeat.interval.ms": "500",
            // Bounds how long a rebalance waits for a member that is gone without leaving (the
            // default, 300 s, once held a test's second consumer past its 30 s wait).
            "max.poll.interval.ms": "10000",
            "topic.metadata.refresh.interval.ms": "1000",
        ]
        return configuration
    }
}

extension Logger {
    /// A logger for tests: quiet unless `LOG_LEVEL` asks for more.
    public static var kafkaTest: Logger {
        var logger = Logger(label: "redress.test.kafka")
        logger.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        return logger
    }
}
