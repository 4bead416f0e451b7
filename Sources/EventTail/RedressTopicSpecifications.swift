import ComplaintEvents
import RdKafka

/// Redress's topics as `redress topics` and `redress up --external` create them on a real cluster, so
/// that both give each topic the same partitions, replication and retention: events no longer than the
/// services' inboxes remember them, dead letters (read by operators, by no service) much longer, since
/// bad input is never to be lost before someone has looked at it.
public enum RedressTopicSpecifications {
    /// Each topic's `segment.ms` (1 day): an event stays readable at most `retention.ms` plus this.
    public static let segmentMilliseconds: Int64 = 86_400_000

    /// Days `complaints.deadletter.v1` keeps its records unless told otherwise (`--dead-letter-retention-days`).
    public static let defaultDeadLetterRetentionDays = 90

    /// Every Redress topic under `prefix`: the dead-letter topic keeps its records
    /// `deadLetterRetentionDays`, every other topic its events `retentionDays`.
    public static func specifications(
        prefix: String, partitions: Int, replicationFactor: Int, retentionDays: Int, deadLetterRetentionDays: Int
    ) -> [KafkaTopicSpecification] {
        Topics.all.map {
            let days = $0.name == Topics.deadLetter.name ? deadLetterRetentionDays : retentionDays
            return KafkaTopicSpecification(
                name: prefix + $0.name, partitions: partitions, replicationFactor: replicationFactor,
                configuration: [
                    "retention.ms": "\(Int64(days) * 86_400_000)",
                    // A quiet topic's active segment rolls only after segment.ms (Kafka's default 7 days)
                    // and is deleted whole: this bounds how long past retention.ms an event stays.
                    "segment.ms": "\(segmentMilliseconds)",
                ])
        }
    }
}
