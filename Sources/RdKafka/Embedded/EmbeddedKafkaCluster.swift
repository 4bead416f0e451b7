import CRdKafka
import Dispatch
import Foundation
import Logging

/// An in-process Kafka-protocol cluster: librdkafka's mock cluster, listening on loopback.
///
/// It speaks the real wire protocol, so any Kafka client (our wrapper, `kcat`) can use it, and it can
/// inject faults. It keeps data in memory only (about 5 MiB per partition) and holds empty fetches
/// for the whole `fetch.wait.max.ms`: it is for development and tests, never for production.
public final class EmbeddedKafkaCluster: Sendable {
    /// Kafka protocol request types, for ``pushRequestErrors(_:for:)``.
    public struct Request: Sendable, Hashable {
        public let apiKey: Int16
        public static let produce = Request(apiKey: 0)
        public static let fetch = Request(apiKey: 1)
        public static let listOffsets = Request(apiKey: 2)
        public static let metadata = Request(apiKey: 3)
        public static let offsetCommit = Request(apiKey: 8)
        public static let offsetFetch = Request(apiKey: 9)
        public static let findCoordinator = Request(apiKey: 10)
        public static let joinGroup = Request(apiKey: 11)
        public static let heartbeat = Request(apiKey: 12)
        public static let initProducerID = Request(apiKey: 22)
    }

    // Declaration order matters for deinit: the cluster must be destroyed before the handle that owns it.
    private let cluster: SendableOpaquePointer
    private let handle: SendableOpaquePointer
    /// Number of brokers; their ids are `1...brokerCount`.
    public let brokerCount: Int
    /// The `host:port,…` list a client uses as `bootstrap.servers`.
    public let bootstrapServers: String

    /// Starts a cluster of `brokers` brokers on random loopback ports.
    /// - Throws: A ``KafkaError`` with code `.mockCluster` if librdkafka cannot start it.
    public init(brokers: Int = 1, logger: Logger) throws {
        // The mock cluster lives inside a client instance; this one never talks to a broker itself.
        let conf = try RDKafkaConfig.make(["log_level": "3"])
        var errorBuffer = [CChar](repeating: 0, count: 512)
        guard let handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &errorBuffer, errorBuffer.count) else {
            rd_kafka_conf_destroy(conf)
            throw KafkaError(code: .mockCluster, reason: "rd_kafka_new: \(String(errorBuffer: errorBuffer))", file: #fileID, line: #line)
        }
        guard let cluster = rd_kafka_mock_cluster_new(handle, Int32(brokers)) else {
            rd_kafka_destroy(handle)
            throw KafkaError(code: .mockCluster, reason: "rd_kafka_mock_cluster_new failed", file: #fileID, line: #line)
        }
        self.handle = SendableOpaquePointer(handle)
        self.cluster = SendableOpaquePointer(cluster)
        self.brokerCount = brokers
        self.bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
        logger.debug("embedded Kafka cluster started", metadata: ["kafka.bootstrap": "\(bootstrapServers)"])
    }

    deinit {
        let cluster = self.cluster
        let handle = self.handle
        // Both calls join threads: on a thread of their own, never the cooperative pool's (which on
        // Linux runs on the global queues' threads).
        Thread.detachNewThread {
            rd_kafka_mock_cluster_destroy(cluster.pointer)
            rd_kafka_destroy(handle.pointer)
        }
    }

    /// Creates a topic (replication factor at most the broker count).
    public func createTopic(_ name: String, partitions: Int, replicationFactor: Int = 1) throws {
        try check(rd_kafka_mock_topic_create(cluster.pointer, name, Int32(partitions), Int32(replicationFactor)), "create topic \(name)")
    }

    /// Creates the topics that do not exist yet; existing ones are left as they are.
    public func ensureTopics(_ topics: [KafkaTopicSpecification]) throws {
        for topic in topics {
            let result = rd_kafka_mock_topic_create(cluster.pointer, topic.name, Int32(topic.partitions), Int32(topic.replicationFactor))
            if result == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS { continue }
            try check(result, "create topic \(topic.name)")
        }
    }

    /// Takes a broker down: its connections close and new ones are refused until ``setBrokerUp(_:)``.
    public func setBrokerDown(_ brokerID: Int32) throws {
        try check(rd_kafka_mock_broker_set_down(cluster.pointer, brokerID), "set broker \(brokerID) down")
    }

    /// Brings a broker back.
    public func setBrokerUp(_ brokerID: Int32) throws {
        try check(rd_kafka_mock_broker_set_up(cluster.pointer, brokerID), "set broker \(brokerID) up")
    }

    /// Gives a partition the leader `brokerID`, or none (`nil`): its messages then wait for a leader,
    /// as during an election, until the producer's message timeout (the other topics go on).
    public func setPartitionLeader(topic: String, partition: Int32, broker brokerID: Int32?) throws {
        try check(rd_kafka_mock_partition_set_leader(cluster.pointer, topic, partition, brokerID ?? -1), "set leader of \(topic) [\(partition)]")
    }

    /// Adds `roundTripTime` of latency to every response of a broker.
    public func setRoundTripTime(_ roundTripTime: Duration, broker brokerID: Int32) throws {
        try check(rd_kafka_mock_broker_set_rtt(cluster.pointer, brokerID, Int32(clamping: roundTripTime.kafkaMilliseconds)), "set rtt of broker \(brokerID)")
    }

    /// Makes the next requests of a type fail with the given Kafka error codes, in order
    /// (for example `6`, NOT_LEADER_FOR_PARTITION, or `7`, REQUEST_TIMED_OUT).
    public func pushRequestErrors(_ errorCodes: [Int32], for request: Request) {
        var errors = errorCodes.map { rd_kafka_resp_err_t(rawValue: $0) }
        errors.withUnsafeMutableBufferPointer { buffer in
            rd_kafka_mock_push_request_errors_array(cluster.pointer, request.apiKey, buffer.count, buffer.baseAddress)
        }
    }

    /// Removes injected request errors of a type.
    public func clearRequestErrors(for request: Request) {
        rd_kafka_mock_clear_request_errors(cluster.pointer, request.apiKey)
    }

    private func check(_ result: rd_kafka_resp_err_t, _ context: String) throws {
        guard result == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError.rdKafka(result, code: .mockCluster, context: context)
        }
    }
}
