import CRdKafka
import Logging

/// What a topic should look like when ``KafkaAdminClient/createTopics(_:timeout:)`` creates it.
public struct KafkaTopicSpecification: Sendable, Hashable {
    public var name: String
    public var partitions: Int
    public var replicationFactor: Int
    /// Topic-level configuration (for example `retention.ms`).
    public var configuration: [String: String]

    public init(name: String, partitions: Int, replicationFactor: Int = 1, configuration: [String: String] = [:]) {
        self.name = name
        self.partitions = partitions
        self.replicationFactor = replicationFactor
        self.configuration = configuration
    }
}

/// Creates topics (so that services and `redress up` find the topics they need) and reads offsets.
public final class KafkaAdminClient: Sendable {
    let client: RDKafkaClient
    let executor = DedicatedThreadExecutor(label: "redress.kafka.admin")
    let bootstrapServers: [String]
    let additionalProperties: [String: String]
    let logger: Logger

    /// - Throws: A ``KafkaError`` if librdkafka refuses a property.
    public init(bootstrapServers: [String], additionalProperties: [String: String] = [:], logger: Logger) throws {
        self.bootstrapServers = bootstrapServers
        self.additionalProperties = additionalProperties
        self.logger = logger
        var properties = additionalProperties
        properties["bootstrap.servers"] = bootstrapServers.joined(separator: ",")
        self.client = try RDKafkaClient.make(kind: .producer, properties: properties, events: [.error], logger: logger)
    }

    /// Creates every topic that does not exist yet; existing topics are left as they are.
    /// - Returns: The names of the topics that were created.
    /// - Throws: A ``KafkaError`` with code `.admin` naming the topic and librdkafka's reason.
    @discardableResult
    public func createTopics(_ topics: [KafkaTopicSpecification], timeout: Duration = .seconds(30)) async throws -> [String] {
        try await withTaskExecutorPreference(executor) {
            try self.createTopicsBlocking(topics, timeoutMilliseconds: Int32(clamping: timeout.kafkaMilliseconds))
        }
    }

    private func createTopicsBlocking(_ topics: [KafkaTopicSpecification], timeoutMilliseconds: Int32) throws -> [String] {
        guard !topics.isEmpty else { return [] }
        var newTopics: [OpaquePointer?] = []
        defer { for topic in newTopics { rd_kafka_NewTopic_destroy(topic) } }
        for topic in topics {
            var errorBuffer = [CChar](repeating: 0, count: 512)
            guard let newTopic = rd_kafka_NewTopic_new(topic.name, Int32(topic.partitions), Int32(topic.replicationFactor), &errorBuffer, errorBuffer.count) else {
                throw KafkaError(code: .admin, reason: "topic \(topic.name): \(String(errorBuffer: errorBuffer))", file: #fileID, line: #line)
            }
            newTopics.append(newTopic)
            for (key, value) in topic.configuration {
                let result = rd_kafka_NewTopic_set_config(newTopic, key, value)
                guard result == RD_KAFKA_RESP_ERR_NO_ERROR else {
                    throw KafkaError.rdKafka(result, code: .admin, context: "topic \(topic.name) config \(key)")
                }
            }
        }
        let options = rd_kafka_AdminOptions_new(client.pointer, RD_KAFKA_ADMIN_OP_CREATETOPICS)
        defer { rd_kafka_AdminOptions_destroy(options) }
        var errorBuffer = [CChar](repeating: 0, count: 512)
        _ = rd_kafka_AdminOptions_set_operation_timeout(options, timeoutMilliseconds, &errorBuffer, errorBuffer.count)
        _ = rd_kafka_AdminOptions_set_request_timeout(options, timeoutMilliseconds, &errorBuffer, errorBuffer.count)

        let queue = rd_kafka_queue_new(client.pointer)
        defer { rd_kafka_queue_destroy(queue) }
        newTopics.withUnsafeMutableBufferPointer { buffer in
            rd_kafka_CreateTopics(client.pointer, buffer.baseAddress, buffer.count, options, queue)
        }
        // Wait a little longer than the operation timeout for the result event.
        guard let event = rd_kafka_queue_poll(queue, timeoutMilliseconds + 5000) else {
            throw KafkaError.timeout(reason: "CreateTopics got no answer within \(timeoutMilliseconds) ms")
        }
        defer { rd_kafka_event_destroy(event) }
        let requestError = rd_kafka_event_error(event)
        guard requestError == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(code: .admin, reason: "CreateTopics: \(String(cString: rd_kafka_event_error_string(event)))",
                             librdkafkaCode: requestError.rawValue, isRetriable: true, file: #fileID, line: #line)
        }
        guard let result = rd_kafka_event_CreateTopics_result(event) else {
            throw KafkaError(code: .admin, reason: "CreateTopics: unexpected event \(String(cString: rd_kafka_event_name(event)))", file: #fileID, line: #line)
        }
        var count = 0
        guard let results = rd_kafka_CreateTopics_result_topics(result, &count) else { return [] }
        var created: [String] = []
        for index in 0..<count {
            let topicResult = results[index]
            let name = String(cString: rd_kafka_topic_result_name(topicResult))
            let error = rd_kafka_topic_result_error(topicResult)
            switch error {
            case RD_KAFKA_RESP_ERR_NO_ERROR:
                created.append(name)
            case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
                continue
            default:
                let detail = rd_kafka_topic_result_error_string(topicResult).map { String(cString: $0) } ?? ""
                throw KafkaError(code: .admin, reason: "create topic \(name): \(String(cString: rd_kafka_err2name(error))): \(detail)",
                                 librdkafkaCode: error.rawValue, file: #fileID, line: #line)
            }
        }
        return created
    }
}
