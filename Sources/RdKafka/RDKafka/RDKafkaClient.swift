import CRdKafka
import Dispatch
import Foundation
import Logging
import NIOCore

/// Owns one `rd_kafka_t` and its main queue; the only type that calls librdkafka's client API.
///
/// All methods are thread-safe as librdkafka's are. Methods documented as *blocking* must run on a
/// ``DedicatedThreadExecutor``, never on Swift's cooperative pool.
final class RDKafkaClient: Sendable {
    enum Kind {
        case producer, consumer

        var rdKind: rd_kafka_type_t { self == .producer ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER }
    }

    /// librdkafka's `RD_KAFKA_EVENT_*` bits that a client asks for on its main queue.
    struct EventMask: OptionSet {
        let rawValue: Int32
        static let deliveryReport = EventMask(rawValue: RD_KAFKA_EVENT_DR)
        static let log = EventMask(rawValue: RD_KAFKA_EVENT_LOG)
        static let error = EventMask(rawValue: RD_KAFKA_EVENT_ERROR)
        static let statistics = EventMask(rawValue: RD_KAFKA_EVENT_STATS)
    }

    /// One delivery report, reduced to what the producer needs (no allocation per message).
    struct DeliveryResult {
        var opaque: UInt64
        var error: rd_kafka_resp_err_t
        var partition: Int32
        var offset: Int64
    }

    // Declaration order matters for deinit: the queue reference is released before the handle.
    private let handle: SendableOpaquePointer
    /// Producers: the main queue (delivery reports, errors, logs). Consumers: a log queue.
    private let mainQueue: SendableOpaquePointer
    let logger: Logger
    let kind: Kind
    /// Consumers: the rebalance callback's state (librdkafka's opaque pointer; lives as long as the handle).
    let rebalance: RDKafkaRebalance?

    private init(handle: OpaquePointer, kind: Kind, rebalance: RDKafkaRebalance?, logger: Logger) {
        self.handle = SendableOpaquePointer(handle)
        self.rebalance = rebalance
        switch kind {
        case .producer:
            self.mainQueue = SendableOpaquePointer(rd_kafka_queue_get_main(handle))
        case .consumer:
            // The main queue is forwarded to the consumer queue (rd_kafka_poll_set_consumer), so one
            // poll serves messages, rebalances and errors; logs get a queue of their own.
            self.mainQueue = SendableOpaquePointer(rd_kafka_queue_new(handle))
        }
        self.kind = kind
        self.logger = logger
    }

    deinit {
        let handle = self.handle
        let queue = self.mainQueue
        let rebalance = self.rebalance
        // rd_kafka_destroy joins librdkafka's threads (a consumer's close first: seconds with a broker
        // away). On a thread of its own: on Linux the cooperative pool runs on the global queues'
        // threads, and a blocked one is half the pool on two cores.
        Thread.detachNewThread {
            rd_kafka_queue_destroy(queue.pointer)
            // Closing a consumer still open revokes its partitions through the rebalance callback.
            rd_kafka_destroy(handle.pointer)
            withExtendedLifetime(rebalance) {}
        }
    }

    var pointer: OpaquePointer { handle.pointer }

    /// Creates a client. Logs are always routed through the main queue (`log.queue=true`) so that
    /// they reach swift-log from our own polling thread, not from librdkafka's internal threads.
    /// With `handlesRebalances` (consumers only), partitions are assigned and revoked by
    /// ``RDKafkaRebalance``'s callback, inside the consumer's polls.
    static func make(kind: Kind, properties: [String: String], events: EventMask, handlesRebalances: Bool = false, logger: Logger) throws -> RDKafkaClient {
        var properties = properties
        properties["log.queue"] = "true"
        let conf = try RDKafkaConfig.make(properties)
        rd_kafka_conf_set_events(conf, events.union(.log).rawValue)
        var rebalance: RDKafkaRebalance?
        if kind == .consumer && handlesRebalances {
            let handling = RDKafkaRebalance(commitsOnRevocation: properties["enable.auto.commit"] != "false", logger: logger)
            handling.install(on: conf)
            rebalance = handling
        }
        var errorBuffer = [CChar](repeating: 0, count: 512)
        guard let handle = rd_kafka_new(kind.rdKind, conf, &errorBuffer, errorBuffer.count) else {
            // rd_kafka_new frees the configuration only on success.
            rd_kafka_conf_destroy(conf)
            throw KafkaError.client(reason: "rd_kafka_new failed: \(String(errorBuffer: errorBuffer))")
        }
        let client = RDKafkaClient(handle: handle, kind: kind, rebalance: rebalance, logger: logger)
        switch kind {
        case .producer:
            // NULL = forward log messages to the main queue, which the producer serves.
            rd_kafka_set_log_queue(handle, nil)
        case .consumer:
            rd_kafka_set_log_queue(handle, client.mainQueue.pointer)
            rd_kafka_poll_set_consumer(handle)
        }
        return client
    }

    // MARK: Producing

    /// Enqueues one message (non-blocking). `opaque` comes back in its delivery report.
    func produce(_ message: KafkaProducerMessage, opaque: UInt64) throws {
        var headers: OpaquePointer?
        if !message.headers.isEmpty {
            let list = rd_kafka_headers_new(message.headers.count)!
            for header in message.headers {
                if let value = header.value {
                    value.withUnsafeReadableBytes { bytes in
                        _ = rd_kafka_header_add(list, header.key, -1, bytes.baseAddress, bytes.count)
                    }
                } else {
                    _ = rd_kafka_header_add(list, header.key, -1, nil, 0)
                }
            }
            headers = list
        }
        let error: OpaquePointer? = message.topic.withCString { topic in
            message.value.withUnsafeReadableBytes { value in
                withOptionalBytes(message.key) { key in
                    withUnsafeTemporaryAllocation(of: rd_kafka_vu_t.self, capacity: 7) { vus in
                        var count = 0
                        func append(_ type: rd_kafka_vtype_t, _ fill: (inout rd_kafka_vu_t) -> Void) {
                            var vu = rd_kafka_vu_t()
                            vu.vtype = type
                            fill(&vu)
                            vus.initializeElement(at: count, to: vu)
                            count += 1
                        }
                        append(RD_KAFKA_VTYPE_TOPIC) { $0.u.cstr = topic }
                        append(RD_KAFKA_VTYPE_PARTITION) { $0.u.i32 = message.partition.rawValue }
                        // F_COPY: librdkafka copies key and value, so Swift may free them on return.
                        append(RD_KAFKA_VTYPE_MSGFLAGS) { $0.u.i = RD_KAFKA_MSG_F_COPY }
                        append(RD_KAFKA_VTYPE_VALUE) {
                            $0.u.mem.ptr = UnsafeMutableRawPointer(mutating: value.baseAddress)
                            $0.u.mem.size = value.count
                        }
                        if let key {
                            append(RD_KAFKA_VTYPE_KEY) {
                                $0.u.mem.ptr = UnsafeMutableRawPointer(mutating: key.baseAddress)
                                $0.u.mem.size = key.count
                            }
                        }
                        append(RD_KAFKA_VTYPE_OPAQUE) { $0.u.ptr = UnsafeMutableRawPointer(bitPattern: UInt(opaque)) }
                        if let headers {
                            append(RD_KAFKA_VTYPE_HEADERS) { $0.u.headers = headers }
                        }
                        defer { vus.baseAddress!.deinitialize(count: count) }
                        return rd_kafka_produceva(handle.pointer, vus.baseAddress, count)
                    }
                }
            }
        }
        if let error {
            // On failure librdkafka did not take ownership of the headers.
            if let headers { rd_kafka_headers_destroy(headers) }
            throw KafkaError.consuming(error, code: .messageDelivery, context: "produce to \(message.topic)")
        }
    }

    /// Messages not yet acknowledged or failed (queued, in flight, or with an unserved report).
    var outstandingMessageCount: Int { Int(rd_kafka_outq_len(handle.pointer)) }

    /// Purges queued and in-flight messages; each still gets a (failed) delivery report.
    func purgeOutstandingMessages() {
        _ = rd_kafka_purge(handle.pointer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT | RD_KAFKA_PURGE_F_NON_BLOCKING)
    }

    // MARK: Main queue

    /// Serves the main queue: blocks up to `timeoutMilliseconds` for the first event, then drains up to
    /// `maximumEvents` more without waiting. Logs are handled here; delivery reports go to `onDelivery`
    /// in batches; errors are returned. *Blocking.*
    func pollMainQueue(
        timeoutMilliseconds: Int32,
        maximumEvents: Int = 1000,
        onDelivery: (UnsafeBufferPointer<DeliveryResult>) -> Void = { _ in }
    ) -> [(error: KafkaError, isFatal: Bool)] {
        var errors: [(KafkaError, Bool)] = []
        var timeout = timeoutMilliseconds
        var results: [DeliveryResult] = []
        for _ in 0..<maximumEvents {
            guard let event = rd_kafka_queue_poll(mainQueue.pointer, timeout) else { break }
            timeout = 0
            defer { rd_kafka_event_destroy(event) }
            switch rd_kafka_event_type(event) {
            case RD_KAFKA_EVENT_DR:
                results.removeAll(keepingCapacity: true)
                // Delivery-report messages belong to the event: they are not destroyed one by one.
                while let message = rd_kafka_event_message_next(event) {
                    results.append(DeliveryResult(
                        opaque: UInt64(UInt(bitPattern: message.pointee._private)),
                        error: message.pointee.err,
                        partition: message.pointee.partition,
                        offset: message.pointee.offset
                    ))
                }
                results.withUnsafeBufferPointer(onDelivery)
            case RD_KAFKA_EVENT_LOG:
                logEvent(event)
            case RD_KAFKA_EVENT_ERROR:
                let code = rd_kafka_event_error(event)
                let isFatal = rd_kafka_event_error_is_fatal(event) != 0
                var reason = String(cString: rd_kafka_event_error_string(event))
                if isFatal {
                    var buffer = [CChar](repeating: 0, count: 512)
                    let fatalCode = rd_kafka_fatal_error(handle.pointer, &buffer, buffer.count)
                    reason = "\(String(cString: rd_kafka_err2name(fatalCode))): \(String(errorBuffer: buffer))"
                }
                let error = KafkaError(
                    code: isFatal ? .fatal : .client,
                    reason: reason,
                    librdkafkaCode: code.rawValue,
                    isRetriable: !isFatal,
                    file: #fileID,
                    line: #line
                )
                errors.append((error, isFatal))
            case RD_KAFKA_EVENT_STATS:
                logger.trace("librdkafka statistics", metadata: ["kafka.statistics": "\(String(cString: rd_kafka_event_stats(event)))"])
            default:
                break
            }
        }
        return errors
    }

    private func logEvent(_ event: OpaquePointer) {
        var facility: UnsafePointer<CChar>?
        var text: UnsafePointer<CChar>?
        var level: Int32 = 0
        guard rd_kafka_event_log(event, &facility, &text, &level) == 0, let text else { return }
        let source = facility.map { String(cString: $0) } ?? "librdkafka"
        logger.log(level: Self.logLevel(syslog: level), "\(String(cString: text))", source: "librdkafka.\(source)")
    }

    /// librdkafka speaks syslog levels (0 emergency … 7 debug).
    static func logLevel(syslog level: Int32) -> Logger.Level {
        switch level {
        case ...2: .critical
        case 3: .error
        case 4: .warning
        case 5, 6: .info
        default: .debug
        }
    }

    // MARK: Consuming

    func subscribe(topics: [String]) throws {
        let list = RDKafkaTopicPartitionList(capacity: topics.count)
        for topic in topics { list.add(topic: topic) }
        let result = list.withListPointer { rd_kafka_subscribe(handle.pointer, $0) }
        guard result == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError.rdKafka(result, code: .subscription, context: "subscribe to \(topics)")
        }
    }

    /// Takes up to `maximumCount` messages: blocks up to `timeoutMilliseconds` for the first, then takes
    /// what is already there. *Blocking.*
    ///
    /// The keys and values of one batch are copied into a single buffer and handed out as slices of
    /// it: one allocation per batch instead of two per message. A batch stops growing at about 60 KiB
    /// of payload. (A message kept for long keeps its batch's buffer alive; copy it if that matters.)
    func consumerPoll(maximumCount: Int, timeoutMilliseconds: Int32, topicNames: inout TopicNameCache) throws -> [KafkaConsumerMessage] {
        var polled: [UnsafeMutablePointer<rd_kafka_message_t>] = []
        // Every message returned by consumer_poll is ours to destroy, whatever happens below.
        defer { for message in polled { rd_kafka_message_destroy(message) } }
        var timeout = timeoutMilliseconds
        var totalBytes = 0
        // Below malloc's mmap threshold, so batch buffers are recycled memory, not fresh pages.
        let maximumBytes = 60 * 1024
        while polled.count < maximumCount && totalBytes < maximumBytes {
            let revocations = rebalance?.revocationCount ?? 0
            let next = rd_kafka_consumer_poll(handle.pointer, timeout)
            if let rebalance, rebalance.revocationCount != revocations, !polled.isEmpty {
                // The poll revoked partitions (the rebalance callback ran in it): what this batch took of
                // them before is no longer this consumer's to process (their new owner reads it again).
                dropMessages(of: rebalance.revoked(since: revocations), from: &polled)
            }
            guard let message = next else { break }
            if polled.isEmpty { polled.reserveCapacity(maximumCount) }
            timeout = 0
            polled.append(message)
            let error = message.pointee.err
            if error != RD_KAFKA_RESP_ERR_NO_ERROR {
                if error == RD_KAFKA_RESP_ERR__PARTITION_EOF { continue }
                var buffer = [CChar](repeating: 0, count: 256)
                if rd_kafka_fatal_error(handle.pointer, &buffer, buffer.count) != RD_KAFKA_RESP_ERR_NO_ERROR {
                    throw KafkaError.fatal(reason: String(errorBuffer: buffer))
                }
                // librdkafka recovers by itself, but an operator must see these: a topic or group the
                // service may not read, a topic that does not exist, a member dropped from its group
                // for not polling (MAX_POLL_EXCEEDED) all leave the stage reading nothing.
                logger.warning("consumer error", metadata: [
                    "error": "\(String(cString: rd_kafka_message_errstr(message)))", "error.code": "\(String(cString: rd_kafka_err2name(error)))",
                ])
                continue
            }
            totalBytes += (message.pointee.key == nil ? 0 : message.pointee.key_len) + message.pointee.len
        }
        guard !polled.isEmpty else { return [] }

        // First copy every key and value (the buffer is still uniquely owned, so no copy-on-write),
        // then cut the slices.
        var storage = ByteBufferAllocator().buffer(capacity: totalBytes)
        var ranges: [(keyStart: Int, keyLength: Int, valueStart: Int, valueLength: Int)] = []
        ranges.reserveCapacity(polled.count)
        for message in polled where message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR {
            let raw = message.pointee
            let keyStart = storage.writerIndex
            if let key = raw.key { storage.writeBytes(UnsafeRawBufferPointer(start: key, count: raw.key_len)) }
            let valueStart = storage.writerIndex
            if let payload = raw.payload { storage.writeBytes(UnsafeRawBufferPointer(start: payload, count: raw.len)) }
            ranges.append((keyStart, raw.key == nil ? -1 : raw.key_len, valueStart, storage.writerIndex - valueStart))
        }
        var messages: [KafkaConsumerMessage] = []
        messages.reserveCapacity(ranges.count)
        var index = 0
        for message in polled where message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR {
            let range = ranges[index]
            index += 1
            let key = range.keyLength < 0 ? nil : storage.getSlice(at: range.keyStart, length: range.keyLength)
            let value = storage.getSlice(at: range.valueStart, length: range.valueLength) ?? ByteBuffer()
            messages.append(Self.message(message, key: key, value: value, topicNames: &topicNames))
        }
        return messages
    }

    /// Destroys and removes the messages of `partitions` from `polled`.
    private func dropMessages(of partitions: Set<RDKafkaRebalance.PartitionKey>, from polled: inout [UnsafeMutablePointer<rd_kafka_message_t>]) {
        guard !partitions.isEmpty else { return }
        polled.removeAll { message in
            guard let topic = message.pointee.rkt,
                  partitions.contains(.init(topic: String(cString: rd_kafka_topic_name(topic)), partition: message.pointee.partition))
            else { return false }
            rd_kafka_message_destroy(message)
            return true
        }
    }

    /// Builds the Swift message around already-copied key and value.
    private static func message(
        _ message: UnsafeMutablePointer<rd_kafka_message_t>,
        key: ByteBuffer?,
        value: ByteBuffer,
        topicNames: inout TopicNameCache
    ) -> KafkaConsumerMessage {
        let raw = message.pointee
        var headers: [KafkaHeader] = []
        var headerList: OpaquePointer?
        if rd_kafka_message_headers(message, &headerList) == RD_KAFKA_RESP_ERR_NO_ERROR, let headerList {
            var index = 0
            var name: UnsafePointer<CChar>?
            var headerValue: UnsafeRawPointer?
            var size = 0
            while rd_kafka_header_get_all(headerList, index, &name, &headerValue, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
                let bytes = headerValue.map { ByteBuffer(bytes: UnsafeRawBufferPointer(start: $0, count: size)) }
                headers.append(KafkaHeader(key: name.map { String(cString: $0) } ?? "", value: bytes))
                index += 1
            }
        }
        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(message, &timestampType)
        return KafkaConsumerMessage(
            topic: topicNames.name(of: raw.rkt),
            partition: KafkaPartition(rawValue: raw.partition),
            offset: KafkaOffset(rawValue: raw.offset),
            key: key,
            value: value,
            headers: headers,
            timestampMilliseconds: timestampType == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? nil : timestamp
        )
    }

    /// Stores `offset` (the *next* offset to read) per partition for the next commit.
    /// Partitions this consumer no longer owns are reported back, not thrown: after a rebalance that is
    /// expected and harmless (the new owner re-reads from the last commit).
    func storeOffsets(_ offsets: [(topic: String, partition: Int32, offset: Int64)]) throws -> [(topic: String, partition: Int32)] {
        let list = RDKafkaTopicPartitionList(capacity: offsets.count)
        for entry in offsets { list.add(topic: entry.topic, partition: entry.partition, offset: entry.offset) }
        let result = list.withListPointer { rd_kafka_offsets_store(handle.pointer, $0) }
        var notAssigned: [(String, Int32)] = []
        for element in list.elements where element.error != RD_KAFKA_RESP_ERR_NO_ERROR {
            if element.error == RD_KAFKA_RESP_ERR__STATE || element.error == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION {
                notAssigned.append((element.topic, element.partition))
            } else {
                throw KafkaError.rdKafka(element.error, code: .offsetStore, context: "store offset \(element.topic)/\(element.partition)@\(element.offset)")
            }
        }
        if result != RD_KAFKA_RESP_ERR_NO_ERROR && notAssigned.isEmpty {
            throw KafkaError.rdKafka(result, code: .offsetStore, context: "store offsets")
        }
        return notAssigned
    }

    /// Stops (`pause`) or restarts fetching `partitions`; librdkafka drops what it fetched of a paused
    /// partition but has not handed over, and fetches again from the next offset not handed over when
    /// it is resumed. Partitions not assigned (any more) are passed over. Non-blocking.
    func setPaused(_ pause: Bool, partitions: [(topic: String, partition: Int32)]) {
        guard !partitions.isEmpty else { return }
        let list = RDKafkaTopicPartitionList(capacity: partitions.count)
        for entry in partitions { list.add(topic: entry.topic, partition: entry.partition, offset: Int64(RD_KAFKA_OFFSET_INVALID)) }
        let result = list.withListPointer { pause ? rd_kafka_pause_partitions(handle.pointer, $0) : rd_kafka_resume_partitions(handle.pointer, $0) }
        if result != RD_KAFKA_RESP_ERR_NO_ERROR {
            logger.debug("pause/resume not applied", metadata: ["error": "\(String(cString: rd_kafka_err2name(result)))", "pause": "\(pause)"])
        }
    }

    /// Commits stored offsets synchronously. *Blocking.*
    func commitStoredOffsets() throws {
        let result = rd_kafka_commit(handle.pointer, nil, 0)
        guard result == RD_KAFKA_RESP_ERR_NO_ERROR || result == RD_KAFKA_RESP_ERR__NO_OFFSET else {
            throw KafkaError.rdKafka(result, code: .client, context: "commit offsets")
        }
    }

    /// Leaves the group after committing stored offsets (when auto-commit is on). *Blocking.*
    func closeConsumer() throws {
        let result = rd_kafka_consumer_close(handle.pointer)
        guard result == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError.rdKafka(result, code: .client, context: "close consumer")
        }
    }

    /// Asks the cluster for its broker list: the cheapest proof that brokers answer. *Blocking.*
    /// - Returns: The number of brokers in the metadata.
    func brokerCount(timeoutMilliseconds: Int32) throws -> Int {
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let result = rd_kafka_metadata(handle.pointer, 0, nil, &metadata, timeoutMilliseconds)
        guard result == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
            throw KafkaError.rdKafka(result, code: .client, context: "metadata request")
        }
        defer { rd_kafka_metadata_destroy(metadata) }
        return Int(metadata.pointee.broker_cnt)
    }

    /// The names of the cluster's topics that have no error in its metadata (asking for all topics: naming
    /// one would create it on a broker that auto-creates topics).
    func topicNames(timeoutMilliseconds: Int32) throws -> Set<String> {
        Set(try topicPartitions(timeoutMilliseconds: timeoutMilliseconds).keys)
    }

    /// The partition ids of each of the cluster's topics without an error in its metadata (all topics
    /// asked for, as ``topicNames(timeoutMilliseconds:)``).
    func topicPartitions(timeoutMilliseconds: Int32) throws -> [String: Set<Int32>] {
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let result = rd_kafka_metadata(handle.pointer, 1, nil, &metadata, timeoutMilliseconds)
        guard result == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
            throw KafkaError.rdKafka(result, code: .client, context: "metadata request")
        }
        defer { rd_kafka_metadata_destroy(metadata) }
        var topics: [String: Set<Int32>] = [:]
        for index in 0..<Int(metadata.pointee.topic_cnt) where metadata.pointee.topics[index].err == RD_KAFKA_RESP_ERR_NO_ERROR {
            let entry = metadata.pointee.topics[index]
            topics[String(cString: entry.topic)] = Set((0..<Int(entry.partition_cnt)).map { entry.partitions[$0].id })
        }
        return topics
    }

    /// The partitions currently assigned to this consumer.
    func assignment() -> [(topic: String, partition: Int32)] {
        var list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
        guard rd_kafka_assignment(handle.pointer, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list else { return [] }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        return (0..<Int(list.pointee.cnt)).map { (String(cString: list.pointee.elems[$0].topic), list.pointee.elems[$0].partition) }
    }
}

/// Remembers the Swift string of each librdkafka topic handle, so that consuming does not allocate a
/// new topic name per message. Topic handles live as long as the client.
struct TopicNameCache {
    private var names: [OpaquePointer: String] = [:]
    private var last: (topic: OpaquePointer, name: String)?

    mutating func name(of topic: OpaquePointer?) -> String {
        guard let topic else { return "" }
        if let last, last.topic == topic { return last.name }
        if let name = names[topic] {
            last = (topic, name)
            return name
        }
        let name = String(cString: rd_kafka_topic_name(topic))
        names[topic] = name
        return name
    }
}

/// Lends the bytes of an optional buffer.
func withOptionalBytes<T>(_ buffer: ByteBuffer?, _ body: (UnsafeRawBufferPointer?) throws -> T) rethrows -> T {
    guard let buffer else { return try body(nil) }
    return try buffer.withUnsafeReadableBytes { try body($0) }
}
