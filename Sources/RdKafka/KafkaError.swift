import CRdKafka

/// Every error the Kafka wrapper throws.
///
/// Shaped like swift-kafka-client's and postgres-nio's errors: a stable ``Code`` to switch on, a human
/// ``reason``, librdkafka's own error code when there is one, and where it was raised.
public struct KafkaError: Error, Hashable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Backing: String, Hashable, Sendable {
            case configuration, client, messageDelivery, queueFull, shutdown, fatal, consumerClosed,
                 offsetStore, subscription, admin, timeout, mockCluster
        }
        private let backing: Backing
        private init(_ backing: Backing) { self.backing = backing }

        /// A configuration property was refused by librdkafka.
        public static let configuration = Code(.configuration)
        /// librdkafka refused to create a client or a request.
        public static let client = Code(.client)
        /// A message could not be delivered (its delivery report carried an error).
        public static let messageDelivery = Code(.messageDelivery)
        /// The local producer queue is full; back off and retry.
        public static let queueFull = Code(.queueFull)
        /// The client is shutting down or has shut down.
        public static let shutdown = Code(.shutdown)
        /// librdkafka raised a fatal error; the client cannot be used any more.
        public static let fatal = Code(.fatal)
        /// The consumer is closed.
        public static let consumerClosed = Code(.consumerClosed)
        /// Storing an offset failed.
        public static let offsetStore = Code(.offsetStore)
        /// Subscribing failed.
        public static let subscription = Code(.subscription)
        /// An admin request failed.
        public static let admin = Code(.admin)
        /// An operation did not finish in time.
        public static let timeout = Code(.timeout)
        /// The embedded mock cluster refused an operation.
        public static let mockCluster = Code(.mockCluster)

        public var description: String { backing.rawValue }
    }

    /// What kind of failure this is.
    public let code: Code
    /// A precise, human-readable reason.
    public let reason: String
    /// librdkafka's `rd_kafka_resp_err_t` value, when the failure came from librdkafka.
    public let librdkafkaCode: Int32?
    /// Whether retrying the same operation later may succeed (librdkafka's retriable flag, or a full queue).
    public let isRetriable: Bool
    let file: String
    let line: UInt

    public var description: String {
        "KafkaError.\(code): \(reason) \(file):\(line)"
    }

    init(code: Code, reason: String, librdkafkaCode: Int32? = nil, isRetriable: Bool = false, file: String, line: UInt) {
        self.code = code
        self.reason = reason
        self.librdkafkaCode = librdkafkaCode
        self.isRetriable = isRetriable
        self.file = file
        self.line = line
    }

    static func configuration(reason: String, file: String = #fileID, line: UInt = #line) -> KafkaError {
        KafkaError(code: .configuration, reason: reason, file: file, line: line)
    }

    static func client(reason: String, file: String = #fileID, line: UInt = #line) -> KafkaError {
        KafkaError(code: .client, reason: reason, file: file, line: line)
    }

    static func shutdown(reason: String = "client is shutting down", file: String = #fileID, line: UInt = #line) -> KafkaError {
        KafkaError(code: .shutdown, reason: reason, file: file, line: line)
    }

    static func consumerClosed(file: String = #fileID, line: UInt = #line) -> KafkaError {
        KafkaError(code: .consumerClosed, reason: "consumer is closed", file: file, line: line)
    }

    static func timeout(reason: String, file: String = #fileID, line: UInt = #line) -> KafkaError {
        KafkaError(code: .timeout, reason: reason, isRetriable: true, file: file, line: line)
    }

    static func fatal(reason: String, file: String = #fileID, line: UInt = #line) -> KafkaError {
        KafkaError(code: .fatal, reason: reason, file: file, line: line)
    }

    /// Wraps a librdkafka error code under `code`.
    static func rdKafka(
        _ error: rd_kafka_resp_err_t,
        code: Code,
        context: String,
        file: String = #fileID,
        line: UInt = #line
    ) -> KafkaError {
        let name = String(cString: rd_kafka_err2name(error))
        let text = String(cString: rd_kafka_err2str(error))
        let retriable = error == RD_KAFKA_RESP_ERR__QUEUE_FULL || error == RD_KAFKA_RESP_ERR__TRANSPORT
            || error == RD_KAFKA_RESP_ERR__TIMED_OUT || error == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT
            || error == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN
        return KafkaError(
            code: error == RD_KAFKA_RESP_ERR__QUEUE_FULL ? .queueFull : code,
            reason: "\(context): \(name): \(text)",
            librdkafkaCode: error.rawValue,
            isRetriable: retriable,
            file: file,
            line: line
        )
    }

    /// Wraps an owned `rd_kafka_error_t` (destroying it).
    static func consuming(
        _ error: OpaquePointer,
        code: Code,
        context: String,
        file: String = #fileID,
        line: UInt = #line
    ) -> KafkaError {
        defer { rd_kafka_error_destroy(error) }
        let name = String(cString: rd_kafka_error_name(error))
        let text = String(cString: rd_kafka_error_string(error))
        let isFatal = rd_kafka_error_is_fatal(error) != 0
        // A full local queue is its own case whatever the call: producers wait it out rather than fail.
        let isQueueFull = rd_kafka_error_code(error) == RD_KAFKA_RESP_ERR__QUEUE_FULL
        return KafkaError(
            code: isFatal ? .fatal : isQueueFull ? .queueFull : code,
            reason: "\(context): \(name): \(text)",
            librdkafkaCode: rd_kafka_error_code(error).rawValue,
            isRetriable: isQueueFull || rd_kafka_error_is_retriable(error) != 0,
            file: file,
            line: line
        )
    }
}
