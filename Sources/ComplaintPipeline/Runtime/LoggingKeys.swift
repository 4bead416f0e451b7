/// The metadata keys of Redress's logs, in one place so every service and module spells them alike.
public enum LoggingKeys {
    public static let service = "service"
    public static let complaintID = "complaint.id"
    public static let eventID = "event.id"
    public static let eventType = "event.type"
    public static let kafkaTopic = "kafka.topic"
    public static let kafkaPartition = "kafka.partition"
    public static let kafkaOffset = "kafka.offset"
    public static let error = "error"
    public static let errorReason = "error.reason"
    public static let attempt = "attempt"
    public static let workKind = "work.kind"
    public static let workID = "work.id"
    public static let idempotencyKey = "work.idempotency_key"
}
