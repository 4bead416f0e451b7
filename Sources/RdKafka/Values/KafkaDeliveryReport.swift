/// The broker's verdict on one produced message.
public struct KafkaDeliveryReport: Sendable, Hashable {
    /// Where the message landed, or why it did not.
    public enum Status: Sendable, Hashable {
        case acknowledged(partition: KafkaPartition, offset: KafkaOffset)
        case failure(KafkaError)
    }

    public var id: KafkaProducerMessageID
    public var topic: String
    public var status: Status

    public init(id: KafkaProducerMessageID, topic: String, status: Status) {
        self.id = id
        self.topic = topic
        self.status = status
    }
}
