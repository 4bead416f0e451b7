/// Kafka headers a service adds when it dead-letters a message, so operators can filter
/// `complaints.deadletter.v1` with `kcat` without decoding values. The record in the value
/// carries the same facts plus the original bytes.
public enum DeadLetterHeaders {
    /// ``DeadLetterRecord/reason``, e.g. `data.guest.roomNumber: longer than 16 characters`.
    public static let reason = "redress-dlq-reason"
    /// The topic the message was read from.
    public static let sourceTopic = "redress-dlq-source-topic"
    /// Its partition, in decimal.
    public static let sourcePartition = "redress-dlq-source-partition"
    /// Its offset, in decimal.
    public static let sourceOffset = "redress-dlq-source-offset"
    /// The service that gave up.
    public static let service = "redress-dlq-service"
    /// Attempts made, in decimal.
    public static let attempts = "redress-dlq-attempts"

    /// The headers for `record`, in the order above, as UTF-8 text.
    public static func headers(for record: DeadLetterRecord) -> [(name: String, value: String)] {
        [
            (reason, record.reason),
            (sourceTopic, record.sourceTopic),
            (sourcePartition, String(record.partition)),
            (sourceOffset, String(record.offset)),
            (service, record.service),
            (attempts, String(record.attempts)),
        ]
    }
}
