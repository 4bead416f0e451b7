/// How many in-sync replicas must acknowledge a produced message.
public struct KafkaAcknowledgments: Sendable, Hashable {
    let value: String
    /// All in-sync replicas (`acks=all`): the only setting that survives a broker loss.
    public static let all = KafkaAcknowledgments(value: "all")
    /// The partition leader only (`acks=1`).
    public static let leader = KafkaAcknowledgments(value: "1")
    /// No acknowledgement (`acks=0`); not usable with idempotence.
    public static let none = KafkaAcknowledgments(value: "0")
}

/// Where a consumer group without a committed offset starts reading.
public struct KafkaAutoOffsetReset: Sendable, Hashable {
    let value: String
    /// From the oldest retained message.
    public static let earliest = KafkaAutoOffsetReset(value: "earliest")
    /// Only messages produced after the consumer joined.
    public static let latest = KafkaAutoOffsetReset(value: "latest")
}

/// Brokers given as `host:port` strings, parsed from the usual comma-separated `KAFKA_BROKERS` form.
public enum KafkaBootstrap {
    /// Splits `"a:9092, b:9092"` into `["a:9092", "b:9092"]`.
    public static func servers(from list: String) -> [String] {
        list.split(separator: ",").map { $0.filter { !$0.isWhitespace } }.filter { !$0.isEmpty }
    }
}

extension Duration {
    /// Whole milliseconds, rounded down, for librdkafka's `*.ms` properties.
    var kafkaMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
