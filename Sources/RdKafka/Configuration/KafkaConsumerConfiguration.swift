/// Settings of a ``KafkaConsumer``.
///
/// The defaults make at-least-once processing the easy path: offsets are stored only when the
/// application calls ``KafkaConsumer/storeOffset(_:)`` after it has processed a message, and stored
/// offsets are committed periodically and on close.
public struct KafkaConsumerConfiguration: Sendable {
    /// `host:port` of one or more brokers. librdkafka property: `bootstrap.servers`.
    public var bootstrapServers: [String]
    /// librdkafka property: `client.id`.
    public var clientID: String?
    /// Consumers with the same group share the partitions. librdkafka property: `group.id`.
    public var groupID: String
    /// Topics to subscribe to.
    public var topics: [String]
    /// librdkafka property: `auto.offset.reset`. Default `.earliest`, so a new group misses nothing.
    public var autoOffsetReset: KafkaAutoOffsetReset = .earliest
    /// Commit stored offsets in the background. librdkafka property: `enable.auto.commit`. Default `true`.
    public var isAutoCommitEnabled: Bool = true
    /// librdkafka property: `auto.commit.interval.ms`. Default 1 s.
    public var autoCommitInterval: Duration = .seconds(1)
    /// Store the offset of every message handed out, processed or not. librdkafka property:
    /// `enable.auto.offset.store`. Default `false` (the opposite of librdkafka's default).
    public var isAutoOffsetStoreEnabled: Bool = false
    /// librdkafka property: `session.timeout.ms`. Default 10 s.
    public var sessionTimeout: Duration = .seconds(10)
    /// librdkafka property: `max.poll.interval.ms`. Default 5 minutes.
    public var maximumPollInterval: Duration = .seconds(300)
    /// How long one blocking poll waits for a message before checking for shutdown. Default 100 ms.
    public var pollInterval: Duration = .milliseconds(100)
    /// Any other librdkafka property, applied last.
    public var additionalProperties: [String: String] = [:]

    public init(bootstrapServers: [String], groupID: String, topics: [String], clientID: String? = nil) {
        self.bootstrapServers = bootstrapServers
        self.groupID = groupID
        self.topics = topics
        self.clientID = clientID
    }

    var properties: [String: String] {
        var properties: [String: String] = [
            "bootstrap.servers": bootstrapServers.joined(separator: ","),
            "group.id": groupID,
            "auto.offset.reset": autoOffsetReset.value,
            "enable.auto.commit": String(isAutoCommitEnabled),
            "auto.commit.interval.ms": String(autoCommitInterval.kafkaMilliseconds),
            "enable.auto.offset.store": String(isAutoOffsetStoreEnabled),
            "session.timeout.ms": String(sessionTimeout.kafkaMilliseconds),
            "max.poll.interval.ms": String(maximumPollInterval.kafkaMilliseconds),
            "enable.partition.eof": "false",
        ]
        if let clientID { properties["client.id"] = clientID }
        properties.merge(additionalProperties) { _, new in new }
        return properties
    }
}
