/// Settings of a ``KafkaProducer``.
///
/// Defaults are Redress's, not librdkafka's: idempotent, `acks=all`, a short linger.
public struct KafkaProducerConfiguration: Sendable {
    /// `host:port` of one or more brokers. librdkafka property: `bootstrap.servers`.
    public var bootstrapServers: [String]
    /// Shows up in broker logs and metrics. librdkafka property: `client.id`.
    public var clientID: String?
    /// librdkafka property: `acks`. Default `.all`.
    public var acknowledgments: KafkaAcknowledgments = .all
    /// No duplicates or reordering on retries. librdkafka property: `enable.idempotence`. Default `true`.
    public var isIdempotenceEnabled: Bool = true
    /// How long to wait to fill a batch. librdkafka property: `linger.ms`. Default 5 ms.
    public var linger: Duration = .milliseconds(5)
    /// How long a message may take, retries included, before its delivery report fails.
    /// librdkafka property: `message.timeout.ms`. Default 5 minutes, so a broker outage of a few
    /// minutes is ridden out rather than reported.
    public var messageTimeout: Duration = .seconds(300)
    /// How long the event thread blocks waiting for delivery reports before checking for shutdown.
    public var pollInterval: Duration = .milliseconds(100)
    /// How long graceful shutdown waits for outstanding messages before purging them (each purged
    /// message still gets its failed delivery report).
    public var shutdownFlushTimeout: Duration = .seconds(10)
    /// Any other librdkafka property, applied last (overrides the fields above).
    public var additionalProperties: [String: String] = [:]

    public init(bootstrapServers: [String], clientID: String? = nil) {
        self.bootstrapServers = bootstrapServers
        self.clientID = clientID
    }

    /// The one place where Swift names become librdkafka keys.
    var properties: [String: String] {
        var properties: [String: String] = [
            "bootstrap.servers": bootstrapServers.joined(separator: ","),
            "acks": acknowledgments.value,
            "enable.idempotence": String(isIdempotenceEnabled),
            "linger.ms": String(linger.kafkaMilliseconds),
            "message.timeout.ms": String(messageTimeout.kafkaMilliseconds),
        ]
        if let clientID { properties["client.id"] = clientID }
        properties.merge(additionalProperties) { _, new in new }
        return properties
    }
}
