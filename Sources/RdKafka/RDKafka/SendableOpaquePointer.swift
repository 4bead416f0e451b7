/// A `Sendable` box around a librdkafka handle.
///
/// Use it only for handles that librdkafka documents as thread-safe (`rd_kafka_t`, `rd_kafka_queue_t`,
/// `rd_kafka_mock_cluster_t`); the box itself adds no synchronisation.
struct SendableOpaquePointer: @unchecked Sendable {
    let pointer: OpaquePointer

    init(_ pointer: OpaquePointer) {
        self.pointer = pointer
    }
}
