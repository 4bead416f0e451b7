import CRdKafka

/// Owns an `rd_kafka_topic_partition_list_t`, destroyed when the object goes away.
///
/// The pointer is only lent out through ``withListPointer(_:)``; never let it escape the closure.
final class RDKafkaTopicPartitionList {
    private let list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>

    init(capacity: Int = 1) {
        self.list = rd_kafka_topic_partition_list_new(Int32(capacity))
    }

    deinit {
        rd_kafka_topic_partition_list_destroy(list)
    }

    /// Adds a topic (partition ignored: `RD_KAFKA_PARTITION_UA`) for subscriptions.
    func add(topic: String) {
        rd_kafka_topic_partition_list_add(list, topic, RD_KAFKA_PARTITION_UA)
    }

    /// Adds one partition with an offset (`set_offset` alone only updates existing elements).
    func add(topic: String, partition: Int32, offset: Int64) {
        let element = rd_kafka_topic_partition_list_add(list, topic, partition)
        element?.pointee.offset = offset
    }

    var count: Int { Int(list.pointee.cnt) }

    /// The per-element results librdkafka wrote back (for example after `rd_kafka_offsets_store`).
    var elements: [(topic: String, partition: Int32, offset: Int64, error: rd_kafka_resp_err_t)] {
        (0..<Int(list.pointee.cnt)).map { index in
            let element = list.pointee.elems[index]
            return (String(cString: element.topic), element.partition, element.offset, element.err)
        }
    }

    func withListPointer<T>(_ body: (UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) throws -> T) rethrows -> T {
        try body(list)
    }
}
