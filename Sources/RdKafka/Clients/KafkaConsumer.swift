import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle

/// Reads records of a consumer group, for at-least-once processing.
///
/// Iterate ``messages`` (or ``batches(maximumCount:)``), process each message, then call
/// ``storeOffset(_:)``; stored offsets are committed in the background and when the consumer closes.
/// A message whose offset was never stored is delivered again after a restart or a rebalance.
///
/// Run it in a `ServiceGroup` *before* the service that iterates its messages, so that on shutdown the
/// processing stops first and the consumer then commits and leaves the group.
public final class KafkaConsumer: Service, Sendable {
    private enum Lifecycle { case initialized, running, closing, closed }

    let client: RDKafkaClient
    let configuration: KafkaConsumerConfiguration
    private let logger: Logger
    /// Serialises message polls and the final close (librdkafka forbids polling a closed consumer).
    let pollExecutor: DedicatedThreadExecutor
    /// Serves the main queue (logs and errors) without delaying message polls.
    private let eventExecutor: DedicatedThreadExecutor
    private let lifecycle = NIOLockedValueBox(Lifecycle.initialized)
    private let fatalError = NIOLockedValueBox<KafkaError?>(nil)
    private let subscribed = NIOLockedValueBox(false)
    /// The next offset per topic and partition that ``storeOffsets(_:)`` stored last (what the caller has
    /// processed), for ``inputProgress(timeout:)``.
    let storedOffsets = NIOLockedValueBox<[String: [Int32: Int64]]>([:])
    /// Runs ``inputProgress(timeout:)``'s broker round trips, which block, off the poll and event threads.
    let queryExecutor: DedicatedThreadExecutor

    /// Creates the consumer. It subscribes to `configuration.topics`, and so joins its group and is
    /// given partitions, only when it is first read: a replica still applying its migrations (or
    /// retrying them) would otherwise take its share of the partitions and leave them unread until
    /// librdkafka's `max.poll.interval.ms` (5 minutes) dropped it from the group.
    /// - Throws: A ``KafkaError`` if a property is refused.
    public init(configuration: KafkaConsumerConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        self.client = try RDKafkaClient.make(
            kind: .consumer,
            properties: configuration.properties,
            events: [.error],
            handlesRebalances: configuration.isRevocationHandled,
            logger: logger
        )
        self.pollExecutor = DedicatedThreadExecutor(label: "redress.kafka.consumer.poll.\(configuration.groupID)")
        self.eventExecutor = DedicatedThreadExecutor(label: "redress.kafka.consumer.events.\(configuration.groupID)")
        self.queryExecutor = DedicatedThreadExecutor(label: "redress.kafka.consumer.queries.\(configuration.groupID)")
    }

    /// Subscribes now, rather than at the first read (see ``init(configuration:logger:)``): for a reader
    /// that must own its partitions before anything is produced (`autoOffsetReset = .latest`, a benchmark
    /// that listens first). Reading later subscribes once, not again.
    /// - Throws: A ``KafkaError`` with code `.subscription` if librdkafka refuses the topics.
    public func subscribe() throws {
        try subscribed.withLockedValue { subscribed in
            guard !subscribed else { return }
            try client.subscribe(topics: configuration.topics)
            subscribed = true
        }
    }

    /// Every message of the subscribed topics, in partition order; ends when the consumer closes.
    public var messages: KafkaConsumerMessages {
        KafkaConsumerMessages(consumer: self, maximumBatchSize: 512)
    }

    /// The same messages, grouped as they arrive (up to `maximumCount` per batch, never empty).
    public func batches(maximumCount: Int = 512) -> KafkaConsumerBatches {
        KafkaConsumerBatches(consumer: self, maximumCount: maximumCount)
    }

    var isClosed: Bool {
        lifecycle.withLockedValue { $0 == .closing || $0 == .closed }
    }

    /// Takes what librdkafka has already fetched without blocking, on the caller's thread; only when
    /// nothing is there does it hop to the poll executor and block for up to the poll interval.
    ///
    /// A consumer with ``KafkaConsumerConfiguration/isRevocationHandled`` always polls on the poll
    /// executor: even a poll with timeout 0 serves a queued rebalance, and the revocation handler waits
    /// (seconds) and the commit after it blocks. On the caller's thread, a thread of the cooperative pool,
    /// that would hold the thread the handler waits for (a one-thread pool: the lanes it waits on cannot
    /// finish) and the `lifecycle` lock that `run()` and `close()` take.
    func poll(maximumCount: Int, topicNames: inout TopicNameCache) async throws -> [KafkaConsumerMessage] {
        if let fatal = fatalError.withLockedValue({ $0 }) { throw fatal }
        try subscribe()
        if !configuration.isRevocationHandled {
            // The lock is held across the non-blocking poll, so `close()` cannot start in between.
            let ready = try lifecycle.withLockedValue { state -> [KafkaConsumerMessage] in
                guard state == .running || state == .initialized else { return [] }
                return try client.consumerPoll(maximumCount: maximumCount, timeoutMilliseconds: 0, topicNames: &topicNames)
            }
            if !ready.isEmpty { return ready }
        }

        let timeout = Int32(clamping: configuration.pollInterval.kafkaMilliseconds)
        let names = topicNames
        let (messages, updatedNames) = try await withTaskExecutorPreference(pollExecutor) { [names] in
            var names = names
            // Checked on the serial executor that also runs the close, so a close cannot slip in.
            guard !self.isClosed else { return ([KafkaConsumerMessage](), names) }
            let messages = try self.client.consumerPoll(maximumCount: maximumCount, timeoutMilliseconds: timeout, topicNames: &names)
            return (messages, names)
        }
        topicNames = updatedNames
        return messages
    }

    /// Marks `message` as processed: its offset + 1 will be committed.
    ///
    /// Storing the offset of a partition this consumer lost in a rebalance is not an error: it is
    /// logged and ignored, and the new owner re-reads from the last committed offset.
    /// - Throws: A ``KafkaError`` with code `.offsetStore` for any other failure.
    public func storeOffset(_ message: KafkaConsumerMessage) throws {
        try storeOffsets([message])
    }

    /// Marks a batch as processed, storing the highest offset per partition.
    public func storeOffsets(_ messages: some Sequence<KafkaConsumerMessage>) throws {
        var highest: [String: [Int32: Int64]] = [:]
        for message in messages {
            let next = message.offset.rawValue + 1
            highest[message.topic, default: [:]][message.partition.rawValue] = max(next, highest[message.topic]?[message.partition.rawValue] ?? 0)
        }
        let offsets = highest.flatMap { topic, partitions in partitions.map { (topic, $0.key, $0.value) } }
        guard !offsets.isEmpty else { return }
        let lost = try client.storeOffsets(offsets)
        let lostKeys = Set(lost.map { "\($0.topic)#\($0.partition)" })
        storedOffsets.withLockedValue { stored in
            for (topic, partition, offset) in offsets where !lostKeys.contains("\(topic)#\(partition)") {
                stored[topic, default: [:]][partition] = offset
            }
        }
        for (topic, partition) in lost {
            logger.debug("offset not stored: partition no longer assigned", metadata: ["kafka.topic": "\(topic)", "kafka.partition": "\(partition)"])
        }
    }

    /// Commits the stored offsets now, instead of waiting for the next automatic commit.
    public func commit() async throws {
        try await withTaskExecutorPreference(pollExecutor) {
            try self.client.commitStoredOffsets()
        }
    }

    /// Stops fetching `partition` of `topic` until ``resume(topic:partition:)``, keeping it assigned (the
    /// consumer goes on polling, so it stays in its group): a reader whose handling of one partition is
    /// behind holds back only that partition. What librdkafka fetched of it but did not hand over is
    /// dropped and fetched again on resume; messages already handed over are not.
    public func pause(topic: String, partition: KafkaPartition) {
        client.setPaused(true, partitions: [(topic, partition.rawValue)])
    }

    /// Fetches `partition` of `topic` again, from the first message not handed over yet.
    public func resume(topic: String, partition: KafkaPartition) {
        client.setPaused(false, partitions: [(topic, partition.rawValue)])
    }

    /// Sets (or, with `nil`, clears) what is told the partitions the consumer is about to let go of, in a
    /// rebalance or when it closes: a reader that queued messages ahead of processing them drops those
    /// of the revoked partitions and finishes (or gives up) what it is applying, storing its offsets.
    /// Once it returns, the stored offsets are committed (when auto-commit is on) and the partitions are
    /// released, so their next owner starts after what this one applied.
    ///
    /// It runs on the consumer's own poll thread (never a thread of Swift's cooperative pool), inside the
    /// poll (or the close), so it may wait for tasks to finish; it holds up that
    /// poll and, with eager assignors (the default `range,roundrobin`), the group's rebalance: keep it
    /// short (seconds at most, well below `max.poll.interval.ms`). Messages of a revoked partition that
    /// the same poll took before the revocation are not returned. Only for a consumer configured with
    /// ``KafkaConsumerConfiguration/isRevocationHandled``; otherwise librdkafka lets go of partitions by
    /// itself and the handler is never called.
    public func onRevocation(_ handler: (@Sendable (_ partitions: [(topic: String, partition: KafkaPartition)]) -> Void)?) {
        guard let handler else {
            client.rebalance?.setRevocationHandler(nil)
            return
        }
        client.rebalance?.setRevocationHandler { partitions in
            handler(partitions.map { (topic: $0.topic, partition: KafkaPartition(rawValue: $0.partition)) })
        }
    }

    /// The topics it reads (``KafkaConsumerConfiguration/topics``).
    public var topics: [String] { configuration.topics }

    /// Whether the caller runs on the thread that polls this consumer (where the revocation handler runs).
    var isOnPollThread: Bool { pollExecutor.isCurrent }

    /// The partitions this consumer currently owns, as `topic/partition` pairs.
    public var assignment: [(topic: String, partition: KafkaPartition)] {
        client.assignment().map { ($0.topic, KafkaPartition(rawValue: $0.partition)) }
    }

    // MARK: Service

    /// Serves librdkafka's events until graceful shutdown or cancellation, then closes the consumer:
    /// stored offsets are committed and the group is left, so partitions move at once.
    /// - Throws: A ``KafkaError`` with code `.fatal` when librdkafka raises a fatal error.
    public func run() async throws {
        lifecycle.withLockedValue { state in
            guard state == .initialized else { Swift.fatalError("\(#function) called twice (state \(state))") }
            state = .running
        }
        let timeout = Int32(clamping: configuration.pollInterval.kafkaMilliseconds)
        var failure: (any Error)?
        await withGracefulShutdownHandler {
            while self.lifecycle.withLockedValue({ $0 == .running }) && !Task.isCancelled {
                let errors = await withTaskExecutorPreference(eventExecutor) {
                    self.client.pollMainQueue(timeoutMilliseconds: timeout)
                }
                for (error, isFatal) in errors {
                    if isFatal {
                        logger.error("fatal consumer error", metadata: ["error": "\(error)"])
                        self.fatalError.withLockedValue { $0 = error }
                        failure = error
                        return
                    }
                    logger.warning("consumer error", metadata: ["error": "\(error.reason)"])
                }
            }
        } onGracefulShutdown: {
            self.lifecycle.withLockedValue { state in
                if state == .running { state = .closing }
            }
        }
        try await close()
        if let failure { throw failure }
    }

    private func close() async throws {
        // Taking the lock waits for a non-blocking poll in progress; none starts after this.
        lifecycle.withLockedValue { $0 = .closing }
        try await withTaskExecutorPreference(pollExecutor) {
            try self.client.closeConsumer()
        }
        lifecycle.withLockedValue { $0 = .closed }
        // Serve the last log lines of the close.
        _ = await withTaskExecutorPreference(eventExecutor) { self.client.pollMainQueue(timeoutMilliseconds: 0) }
        logger.debug("consumer closed", metadata: ["kafka.group": "\(configuration.groupID)"])
    }
}
