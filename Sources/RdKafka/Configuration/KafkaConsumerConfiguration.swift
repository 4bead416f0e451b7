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
    /// How long the group waits for a silent member before giving its partitions to the others: the
    /// stall after a member is killed. librdkafka property: `session.timeout.ms`. Default 6 s, the
    /// lowest a Kafka broker accepts by default (`group.min.session.timeout.ms`).
    public var sessionTimeout: Duration = .seconds(6)
    /// How often the member tells the group it is alive; well below a third of ``sessionTimeout``.
    /// librdkafka property: `heartbeat.interval.ms`. Default 1 s.
    public var heartbeatInterval: Duration = .seconds(1)
    /// A stable identity of this member (static membership, KIP-345): a member that restarts with the
    /// same id within ``sessionTimeout`` takes its partitions back without a rebalance. Must be unique
    /// among the group's live members (a replica's host name). librdkafka property: `group.instance.id`.
    /// Default none (dynamic membership).
    public var staticMemberID: String?
    /// librdkafka property: `max.poll.interval.ms`. Default 5 minutes.
    public var maximumPollInterval: Duration = .seconds(300)
    /// How long one blocking poll waits for a message before checking for shutdown. Default 100 ms.
    public var pollInterval: Duration = .milliseconds(100)
    /// Partitions are assigned and revoked through a rebalance callback, inside the reader's polls, so
    /// that the reader lets go of revoked partitions first (``KafkaConsumer/onRevocation(_:)``: drop what
    /// it read ahead, finish what it applies, store its offsets, which are then committed before the
    /// partitions go). Default `false`: librdkafka hands partitions over by itself, also to a consumer
    /// that subscribed (``KafkaConsumer/subscribe()``) and waits for its assignment without reading;
    /// with it on, such a consumer is given partitions only once it polls.
    public var isRevocationHandled = false
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
            "heartbeat.interval.ms": String(heartbeatInterval.kafkaMilliseconds),
            "max.poll.interval.ms": String(maximumPollInterval.kafkaMilliseconds),
            "enable.partition.eof": "false",
        ]
        if let clientID { properties["client.id"] = clientID }
        if let staticMemberID { properties["group.instance.id"] = staticMemberID }
        properties.merge(additionalProperties) { _, new in new }
        return properties
    }
}
