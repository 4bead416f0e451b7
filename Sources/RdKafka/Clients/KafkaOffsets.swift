import CRdKafka
import Logging

/// Where a consumer group stands against the end of its topics: what a replay (`redress metrics rebuild`)
/// waits for before it compares, and what an operator reads as lag.
public struct KafkaGroupProgress: Sendable, Hashable {
    /// Per topic and partition: the end (high watermark) when asked, and the group's committed offset
    /// (`nil` when it has committed nothing there yet).
    public var partitions: [Entry]

    /// One partition's first kept, committed and end offsets.
    public struct Entry: Sendable, Hashable {
        public var topic: String
        public var partition: Int32
        /// The first offset still kept (retention may have deleted the ones before).
        public var start: Int64
        public var end: Int64
        public var committed: Int64?
    }

    /// Messages the group has not committed yet, summed over partitions (nothing committed: from the
    /// first offset still kept).
    public var lag: Int64 {
        partitions.reduce(0) { $0 + max(0, $1.end - ($1.committed ?? $1.start)) }
    }

    /// Whether the group has committed up to `ends` (the ends at some earlier moment) everywhere. A
    /// partition retention emptied (start = end) has nothing to read, so nothing to commit: it counts as reached.
    public func reached(_ ends: [String: [Int32: Int64]]) -> Bool {
        partitions.allSatisfy { entry in (entry.committed ?? entry.start) >= (ends[entry.topic]?[entry.partition] ?? 0) }
    }

    /// The end offsets, by topic and partition.
    public var ends: [String: [Int32: Int64]] {
        partitions.reduce(into: [:]) { $0[$1.topic, default: [:]][$1.partition] = $1.end }
    }
}

extension KafkaAdminClient {
    /// The end offsets of every partition of `topics` and what consumer group `groupID` committed there.
    /// Reads offsets only: it never joins the group, so the group's members keep their partitions.
    /// - Throws: A ``KafkaError`` when the cluster does not answer within `timeout` or a topic is unknown.
    public func progress(of groupID: String, on topics: [String], timeout: Duration = .seconds(10)) async throws -> KafkaGroupProgress {
        let timeoutMilliseconds = Int32(clamping: timeout.kafkaMilliseconds)
        let groupProperties = groupMemberProperties(groupID: groupID)
        let logger = self.logger
        return try await withTaskExecutorPreference(executor) {
            var entries: [KafkaGroupProgress.Entry] = []
            for topic in topics {
                for partition in try partitionCount(of: topic, timeoutMilliseconds: timeoutMilliseconds) {
                    var low: Int64 = 0, high: Int64 = 0
                    let result = rd_kafka_query_watermark_offsets(client.pointer, topic, partition, &low, &high, timeoutMilliseconds)
                    guard result == RD_KAFKA_RESP_ERR_NO_ERROR else {
                        throw KafkaError.rdKafka(result, code: .admin, context: "watermarks of \(topic)/\(partition)")
                    }
                    entries.append(.init(topic: topic, partition: partition, start: low, end: high, committed: nil))
                }
            }
            // A consumer handle of the group that never subscribes: it may ask the coordinator for offsets.
            let member = try RDKafkaClient.make(kind: .consumer, properties: groupProperties, events: [.error], logger: logger)
            let list = RDKafkaTopicPartitionList(capacity: max(entries.count, 1))
            for entry in entries { list.add(topic: entry.topic, partition: entry.partition, offset: Int64(RD_KAFKA_OFFSET_INVALID)) }
            let result = list.withListPointer { rd_kafka_committed(member.pointer, $0, timeoutMilliseconds) }
            guard result == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError.rdKafka(result, code: .admin, context: "committed offsets of group \(groupID)")
            }
            var committed: [String: Int64] = [:]
            for element in list.elements where element.offset >= 0 { committed["\(element.topic)/\(element.partition)"] = element.offset }
            for index in entries.indices { entries[index].committed = committed["\(entries[index].topic)/\(entries[index].partition)"] }
            return KafkaGroupProgress(partitions: entries)
        }
    }

    /// Per partition of `topics`, the first offset whose message has a timestamp at or after
    /// `milliseconds` since 1970: where a replay of a time range starts or stops. A partition is left
    /// out when the broker found no such message or cannot look offsets up by time (librdkafka's mock
    /// cluster, the embedded broker, answers "none" for every time).
    /// - Throws: A ``KafkaError`` when the cluster does not answer within `timeout` or a topic is unknown.
    public func offsets(
        atMillisecondsSince1970 milliseconds: Int64, on topics: [String], timeout: Duration = .seconds(10)
    ) async throws -> [String: [Int32: Int64]] {
        let timeoutMilliseconds = Int32(clamping: timeout.kafkaMilliseconds)
        let properties = groupMemberProperties(groupID: "redress-offsets-\(UInt64.random(in: 0...UInt64.max))")
        let logger = self.logger
        return try await withTaskExecutorPreference(executor) {
            let list = RDKafkaTopicPartitionList(capacity: 8)
            for topic in topics {
                for partition in try partitionCount(of: topic, timeoutMilliseconds: timeoutMilliseconds) {
                    list.add(topic: topic, partition: partition, offset: milliseconds)
                }
            }
            let member = try RDKafkaClient.make(kind: .consumer, properties: properties, events: [.error], logger: logger)
            let result = list.withListPointer { rd_kafka_offsets_for_times(member.pointer, $0, timeoutMilliseconds) }
            guard result == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError.rdKafka(result, code: .admin, context: "offsets for time \(milliseconds) ms")
            }
            var offsets: [String: [Int32: Int64]] = [:]
            for element in list.elements {
                guard element.error == RD_KAFKA_RESP_ERR_NO_ERROR else {
                    throw KafkaError.rdKafka(element.error, code: .admin, context: "offset for time of \(element.topic)/\(element.partition)")
                }
                // -1: no message at or after the time, or no lookup by time.
                if element.offset >= 0 { offsets[element.topic, default: [:]][element.partition] = element.offset }
            }
            return offsets
        }
    }

    /// Commits `offsets` (the next offset to read, per topic and partition) for consumer group
    /// `groupID` without joining it: a fresh group then starts there. Commit only for a group no
    /// member is running. librdkafka's synchronous commit waits for the group's coordinator (its
    /// requests time out after `socket.timeout.ms`, 60 s by default).
    /// - Throws: A ``KafkaError`` when the coordinator refuses or cannot be reached.
    public func commit(_ offsets: [String: [Int32: Int64]], for groupID: String) async throws {
        guard offsets.values.contains(where: { !$0.isEmpty }) else { return }
        let properties = groupMemberProperties(groupID: groupID)
        let logger = self.logger
        try await withTaskExecutorPreference(executor) {
            let member = try RDKafkaClient.make(kind: .consumer, properties: properties, events: [.error], logger: logger)
            let list = RDKafkaTopicPartitionList(capacity: offsets.values.reduce(0) { $0 + $1.count })
            for (topic, partitions) in offsets {
                for (partition, offset) in partitions { list.add(topic: topic, partition: partition, offset: offset) }
            }
            let result = list.withListPointer { rd_kafka_commit(member.pointer, $0, 0) }
            guard result == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError.rdKafka(result, code: .admin, context: "committing offsets for group \(groupID)")
            }
            for element in list.elements where element.error != RD_KAFKA_RESP_ERR_NO_ERROR {
                throw KafkaError.rdKafka(element.error, code: .admin, context: "committing \(element.topic)/\(element.partition) for group \(groupID)")
            }
        }
    }

    /// The properties of a consumer handle of `groupID` that never subscribes (it may ask the
    /// coordinator for offsets, commit them and look offsets up by time).
    private func groupMemberProperties(groupID: String) -> [String: String] {
        var properties = additionalProperties
        properties["bootstrap.servers"] = bootstrapServers.joined(separator: ",")
        properties["group.id"] = groupID
        properties["enable.auto.commit"] = "false"
        return properties
    }

    /// The partitions of `topic`, from the cluster's metadata of all topics (asking for one topic by name
    /// would create it on a broker that auto-creates topics).
    private func partitionCount(of topic: String, timeoutMilliseconds: Int32) throws -> [Int32] {
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let result = rd_kafka_metadata(client.pointer, 1, nil, &metadata, timeoutMilliseconds)
        guard result == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
            throw KafkaError.rdKafka(result, code: .admin, context: "metadata of \(topic)")
        }
        defer { rd_kafka_metadata_destroy(metadata) }
        for index in 0..<Int(metadata.pointee.topic_cnt) {
            let entry = metadata.pointee.topics[index]
            guard String(cString: entry.topic) == topic else { continue }
            guard entry.err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError.rdKafka(entry.err, code: .admin, context: "topic \(topic)") }
            return (0..<Int(entry.partition_cnt)).map { Int32(entry.partitions[$0].id) }
        }
        throw KafkaError(code: .admin, reason: "topic \(topic) is not in the cluster's metadata", file: #fileID, line: #line)
    }
}
