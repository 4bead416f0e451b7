import CRdKafka
import NIOConcurrencyHelpers

/// How far a consumer has processed the partitions it owns, against their ends asked of the brokers:
/// what a stage checks before it acts on time rather than on an event (the SLA watcher fires a timer
/// only once it has applied what its input topics held by then).
public struct KafkaInputProgress: Sendable, Hashable {
    /// One owned partition.
    public struct Entry: Sendable, Hashable {
        public var topic: String
        public var partition: Int32
        /// The partition's end (high watermark) when asked: the offset the next message will get.
        public var end: Int64
        /// The next offset the group has processed up to: the larger of what this consumer stored last
        /// (``KafkaConsumer/storeOffsets(_:)``) and what the group committed, and at least the first offset
        /// still kept (a new group reading from the start, or one whose commit the broker no longer keeps).
        public var processed: Int64

        public init(topic: String, partition: Int32, end: Int64, processed: Int64) {
            self.topic = topic
            self.partition = partition
            self.end = end
            self.processed = processed
        }
    }

    /// The partitions it owns.
    public var partitions: [Entry]
    /// Every partition of each topic the consumer reads, owned or not (from the cluster's metadata).
    public var topicPartitions: [String: [Int32]]

    public init(partitions: [Entry], topicPartitions: [String: [Int32]]) {
        self.partitions = partitions
        self.topicPartitions = topicPartitions
    }

    /// How far a partition is processed: the larger of the offset stored last and the group's commit, and
    /// never below `start`, the first offset kept. A commit below it (the group stopped longer than the
    /// topic's retention) has nothing left to read up to it: an idle consumer would otherwise never reach it.
    static func processed(stored: Int64?, committed: Int64?, start: Int64) -> Int64 {
        max(stored ?? .min, committed ?? start, start)
    }
}

extension KafkaConsumer {
    /// The ends of the partitions this consumer owns now and how far it processed them, in broker round
    /// trips (the metadata, a watermark query per owned partition, one committed-offsets query) on a thread
    /// of its own, each bounded by `timeout`. Owning nothing (before the group assigned partitions) gives
    /// no entries.
    /// - Throws: A ``KafkaError`` when a broker or the group's coordinator does not answer in time.
    public func inputProgress(timeout: Duration = .seconds(2)) async throws -> KafkaInputProgress {
        let timeoutMilliseconds = Int32(clamping: timeout.kafkaMilliseconds)
        let client = self.client
        let storedOffsets = self.storedOffsets
        let topics = configuration.topics
        return try await withTaskExecutorPreference(queryExecutor) {
            let all = try client.topicPartitions(timeoutMilliseconds: timeoutMilliseconds)
            var topicPartitions: [String: [Int32]] = [:]
            for topic in topics { topicPartitions[topic] = all[topic].map { $0.sorted() } ?? [] }
            let owned = client.assignment()
            guard !owned.isEmpty else { return KafkaInputProgress(partitions: [], topicPartitions: topicPartitions) }
            var ends: [(topic: String, partition: Int32, start: Int64, end: Int64)] = []
            for (topic, partition) in owned {
                var low: Int64 = 0, high: Int64 = 0
                let result = rd_kafka_query_watermark_offsets(client.pointer, topic, partition, &low, &high, timeoutMilliseconds)
                guard result == RD_KAFKA_RESP_ERR_NO_ERROR else {
                    throw KafkaError.rdKafka(result, code: .client, context: "watermarks of \(topic)/\(partition)")
                }
                ends.append((topic, partition, low, high))
            }
            let list = RDKafkaTopicPartitionList(capacity: ends.count)
            for entry in ends { list.add(topic: entry.topic, partition: entry.partition, offset: Int64(RD_KAFKA_OFFSET_INVALID)) }
            let result = list.withListPointer { rd_kafka_committed(client.pointer, $0, timeoutMilliseconds) }
            guard result == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError.rdKafka(result, code: .client, context: "committed offsets")
            }
            var committed: [String: [Int32: Int64]] = [:]
            for element in list.elements where element.error == RD_KAFKA_RESP_ERR_NO_ERROR && element.offset >= 0 {
                committed[element.topic, default: [:]][element.partition] = element.offset
            }
            let stored = storedOffsets.withLockedValue { $0 }
            return KafkaInputProgress(partitions: ends.map { entry in
                let processed = KafkaInputProgress.processed(
                    stored: stored[entry.topic]?[entry.partition], committed: committed[entry.topic]?[entry.partition], start: entry.start)
                return KafkaInputProgress.Entry(topic: entry.topic, partition: entry.partition, end: entry.end, processed: processed)
            }, topicPartitions: topicPartitions)
        }
    }
}
