import CRdKafka
import Logging
import Metrics
import NIOConcurrencyHelpers
import ServiceLifecycle
import Synchronization

/// Sends records to Kafka and tells you, for every record, whether the brokers acknowledged it.
///
/// Run it in a `ServiceGroup`: its `run()` serves delivery reports on a dedicated thread and, on
/// graceful shutdown, flushes what is still outstanding. Every message gets exactly one delivery
/// report: acknowledged, failed, or — if the flush timeout expires — purged with an error.
///
/// ```swift
/// let producer = try KafkaProducer(configuration: .init(bootstrapServers: ["localhost:9092"]), logger: logger)
/// let report = try await producer.sendAndAwait(KafkaProducerMessage(topic: "t", key: "k", value: "v"))
/// ```
public final class KafkaProducer: Service, Sendable {
    /// Where an awaited message's delivery report goes. `pending` covers the gap between producing and
    /// installing the continuation, so a fast report or a cancellation is never lost.
    private enum Slot {
        case pending
        case waiting(CheckedContinuation<KafkaDeliveryReport, any Error>)
        case completed(KafkaDeliveryReport)
        case cancelled
    }

    private enum Lifecycle { case initialized, running, finishing, finished }

    private struct State {
        var lifecycle: Lifecycle = .initialized
        var slots: [UInt64: (topic: String, slot: Slot)] = [:]
        var fatalError: KafkaError?
    }

    /// Marks ids of messages someone awaits, so reports for fire-and-forget messages skip the table.
    private static let awaitedBit: UInt64 = 1 << 63

    private let client: RDKafkaClient
    private let configuration: KafkaProducerConfiguration
    private let logger: Logger
    private let executor: DedicatedThreadExecutor
    /// Runs readiness probes without delaying delivery reports.
    private let probeExecutor = DedicatedThreadExecutor(label: "redress.kafka.producer.probe")
    private let state = NIOLockedValueBox(State())
    private let nextID = Atomic<UInt64>(1)
    private let delivered = Atomic<Int>(0)
    private let failed = Atomic<Int>(0)
    private let queueFullWaits = Atomic<Int>(0)
    private let deliveredCounter: Counter
    private let failureCounter: Counter

    /// Creates the producer; nothing is sent until you send.
    /// - Throws: A ``KafkaError`` with code `.configuration` if librdkafka refuses a property.
    public init(configuration: KafkaProducerConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        self.client = try RDKafkaClient.make(
            kind: .producer,
            properties: configuration.properties,
            events: [.deliveryReport, .error],
            logger: logger
        )
        self.executor = DedicatedThreadExecutor(label: "redress.kafka.producer.\(configuration.clientID ?? "events")")
        let dimensions = [("client", configuration.clientID ?? "producer")]
        self.deliveredCounter = Counter(label: "kafka_messages_delivered_total", dimensions: dimensions)
        self.failureCounter = Counter(label: "kafka_delivery_failures_total", dimensions: dimensions)
    }

    /// Messages acknowledged by the brokers so far.
    public var deliveredMessageCount: Int { delivered.load(ordering: .relaxed) }
    /// Messages whose delivery report carried an error so far.
    public var failedMessageCount: Int { failed.load(ordering: .relaxed) }
    /// Messages produced but not yet reported.
    public var outstandingMessageCount: Int { client.outstandingMessageCount }
    /// Times a `sendAndAwait` found librdkafka's local queue full and waited for room (the brokers are
    /// slower than the senders, or away).
    public var queueFullWaitCount: Int { queueFullWaits.load(ordering: .relaxed) }

    // MARK: Sending

    /// Enqueues a message without waiting for its acknowledgement (its failure is logged and counted).
    /// - Returns: The id its delivery report will carry.
    /// - Throws: A ``KafkaError``: `.queueFull` (retriable: back off and retry) when librdkafka's local
    ///   queue is full, `.shutdown` after shutdown began, `.fatal` after a fatal error.
    @discardableResult
    public func send(_ message: KafkaProducerMessage) throws -> KafkaProducerMessageID {
        try checkAcceptingMessages()
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        try client.produce(message, opaque: id)
        return KafkaProducerMessageID(rawValue: id)
    }

    /// Sends a message and waits until the brokers acknowledged it (or it definitively failed).
    ///
    /// A full local queue is waited out, not thrown.
    /// - Returns: The delivery report with partition and offset.
    /// - Throws: A ``KafkaError`` with code `.messageDelivery` if the delivery failed, `.shutdown` if the
    ///   producer shut down first, or `CancellationError` if the task was cancelled (the message may
    ///   still be delivered).
    public func sendAndAwait(_ message: KafkaProducerMessage) async throws -> KafkaDeliveryReport {
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue | Self.awaitedBit
        // The check and the slot go in under one lock: a slot added after shutdown's last pass over the
        // slots would wait for a report nobody polls any more.
        try state.withLockedValue { state in
            try Self.checkAcceptingMessages(state)
            state.slots[id] = (message.topic, .pending)
        }
        var backoff = Duration.microseconds(200)
        while true {
            do {
                try client.produce(message, opaque: id)
                break
            } catch let error as KafkaError where error.code == .queueFull {
                queueFullWaits.add(1, ordering: .relaxed)
                do {
                    try await Task.sleep(for: backoff)
                } catch {
                    _ = state.withLockedValue { $0.slots.removeValue(forKey: id) }
                    throw error
                }
                // Shutdown may have settled the slot while the queue was full: the message was never
                // handed to librdkafka, so it is not produced now (it would go out unreported).
                try state.withLockedValue { state in
                    switch state.slots[id]?.slot {
                    case .pending:
                        do {
                            try Self.checkAcceptingMessages(state)
                        } catch {
                            state.slots[id] = nil
                            throw error
                        }
                    case .cancelled:
                        state.slots[id] = nil
                        throw CancellationError()
                    case .completed, .waiting, nil:
                        state.slots[id] = nil
                        throw state.fatalError ?? KafkaError.shutdown(reason: "producer shut down while its local queue was full")
                    }
                }
                backoff = min(backoff * 2, .milliseconds(50))
            } catch {
                _ = state.withLockedValue { $0.slots.removeValue(forKey: id) }
                throw error
            }
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<KafkaDeliveryReport, any Error>) in
                let immediate: Result<KafkaDeliveryReport, any Error>? = state.withLockedValue { state in
                    guard let entry = state.slots[id] else { return .failure(KafkaError.shutdown()) }
                    switch entry.slot {
                    case .pending:
                        state.slots[id] = (entry.topic, .waiting(continuation))
                        return nil
                    case .completed(let report):
                        state.slots[id] = nil
                        return .success(report)
                    case .cancelled:
                        state.slots[id] = nil
                        return .failure(CancellationError())
                    case .waiting:
                        fatalError("\(#function): continuation installed twice for message \(id)")
                    }
                }
                if let immediate { continuation.resume(with: immediate) }
            }
        } onCancel: {
            let continuation: CheckedContinuation<KafkaDeliveryReport, any Error>? = state.withLockedValue { state in
                guard let entry = state.slots[id] else { return nil }
                switch entry.slot {
                case .pending:
                    state.slots[id] = (entry.topic, .cancelled)
                    return nil
                case .waiting(let continuation):
                    state.slots[id] = nil
                    return continuation
                case .completed, .cancelled:
                    return nil
                }
            }
            continuation?.resume(throwing: CancellationError())
        }
        .get()
    }

    private func checkAcceptingMessages() throws {
        try state.withLockedValue { try Self.checkAcceptingMessages($0) }
    }

    private static func checkAcceptingMessages(_ state: State) throws {
        if let fatal = state.fatalError { throw fatal }
        switch state.lifecycle {
        case .initialized, .running: return
        case .finishing, .finished: throw KafkaError.shutdown()
        }
    }

    /// Waits until every message sent so far has its delivery report. `run()` must be running.
    /// - Throws: A ``KafkaError`` with code `.timeout` if messages are still outstanding after `timeout`.
    public func flush(timeout: Duration) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while client.outstandingMessageCount > 0 {
            guard clock.now < deadline else {
                throw KafkaError.timeout(reason: "\(client.outstandingMessageCount) messages still outstanding after \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(1))
        }
    }

    /// Checks that the cluster answers a metadata request within `timeout`, for readiness probes.
    /// - Throws: A ``KafkaError`` naming librdkafka's reason when it does not.
    public func checkConnectivity(timeout: Duration = .seconds(2)) async throws {
        let milliseconds = Int32(clamping: timeout.kafkaMilliseconds)
        _ = try await withTaskExecutorPreference(probeExecutor) {
            try self.client.brokerCount(timeoutMilliseconds: milliseconds)
        }
    }

    /// Which of `topics` the cluster does not have (a consumer subscribed to one waits for ever, and
    /// a message for one fails), for readiness probes.
    /// - Throws: A ``KafkaError`` when the cluster does not answer within `timeout`.
    public func missingTopics(_ topics: [String], timeout: Duration = .seconds(2)) async throws -> [String] {
        let milliseconds = Int32(clamping: timeout.kafkaMilliseconds)
        let present = try await withTaskExecutorPreference(probeExecutor) {
            try self.client.topicNames(timeoutMilliseconds: milliseconds)
        }
        return topics.filter { !present.contains($0) }
    }

    /// The partition ids of those of `topics` the cluster has (a missing topic is absent): where a
    /// message with an explicit ``KafkaProducerMessage/partition`` can go.
    /// - Throws: A ``KafkaError`` when the cluster does not answer within `timeout`.
    public func partitions(of topics: [String], timeout: Duration = .seconds(2)) async throws -> [String: Set<Int32>] {
        let milliseconds = Int32(clamping: timeout.kafkaMilliseconds)
        let all = try await withTaskExecutorPreference(probeExecutor) {
            try self.client.topicPartitions(timeoutMilliseconds: milliseconds)
        }
        return all.filter { topics.contains($0.key) }
    }

    // MARK: Service

    /// Serves delivery reports until graceful shutdown, then flushes (bounded by
    /// `shutdownFlushTimeout`), purges what is left, and fails any remaining waiter.
    /// - Throws: A ``KafkaError`` with code `.fatal` when librdkafka raises a fatal error.
    public func run() async throws {
        state.withLockedValue { state in
            guard state.lifecycle == .initialized else { fatalError("\(#function) called twice (state \(state.lifecycle))") }
            state.lifecycle = .running
        }
        do {
            try await withGracefulShutdownHandler {
                try await serveEvents(untilFinishing: true)
            } onGracefulShutdown: {
                self.state.withLockedValue { state in
                    if state.lifecycle == .running { state.lifecycle = .finishing }
                }
            }
            try await drain()
        } catch {
            failAllWaiters(with: error as? KafkaError ?? KafkaError.shutdown())
            state.withLockedValue { $0.lifecycle = .finished }
            throw error
        }
    }

    private func serveEvents(untilFinishing: Bool) async throws {
        let timeout = Int32(clamping: configuration.pollInterval.kafkaMilliseconds)
        while true {
            let errors = await withTaskExecutorPreference(executor) {
                self.client.pollMainQueue(timeoutMilliseconds: timeout, onDelivery: self.handleDeliveries)
            }
            try handle(errors)
            let finishing = state.withLockedValue { $0.lifecycle != .running }
            if finishing || Task.isCancelled { return }
        }
    }

    /// Flushes for at most `shutdownFlushTimeout`, then purges. Once the task is cancelled (the service
    /// group's graceful-shutdown budget ran out: the process is about to be killed) it stops flushing,
    /// purges at once and waits at most a second for the purge's reports, instead of running out a flush
    /// of 10 s and a purge wait of 5 s that took the process past its kill.
    private func drain() async throws {
        state.withLockedValue { $0.lifecycle = .finishing }
        let clock = ContinuousClock()
        let deadline = clock.now + configuration.shutdownFlushTimeout
        while client.outstandingMessageCount > 0, clock.now < deadline, !Task.isCancelled {
            let errors = await withTaskExecutorPreference(executor) {
                self.client.pollMainQueue(timeoutMilliseconds: 10, onDelivery: self.handleDeliveries)
            }
            try handle(errors)
        }
        if client.outstandingMessageCount > 0 {
            logger.warning(Task.isCancelled ? "shutdown cancelled while flushing; purging" : "shutdown flush timed out; purging", metadata: [
                "kafka.outstanding": "\(client.outstandingMessageCount)",
            ])
            client.purgeOutstandingMessages()
            let purged = clock.now
            while client.outstandingMessageCount > 0, clock.now < purged + (Task.isCancelled ? .seconds(1) : .seconds(5)) {
                _ = await withTaskExecutorPreference(executor) {
                    self.client.pollMainQueue(timeoutMilliseconds: 10, onDelivery: self.handleDeliveries)
                }
            }
        }
        failAllWaiters(with: KafkaError.shutdown(reason: "producer shut down before the message was delivered"))
        state.withLockedValue { $0.lifecycle = .finished }
    }

    private func handle(_ errors: [(error: KafkaError, isFatal: Bool)]) throws {
        for (error, isFatal) in errors {
            if isFatal {
                logger.error("fatal producer error", metadata: ["error": "\(error)"])
                state.withLockedValue { $0.fatalError = error }
                throw error
            }
            logger.info("producer error", metadata: ["error": "\(error.reason)"])
        }
    }

    private func failAllWaiters(with error: KafkaError) {
        let continuations = state.withLockedValue { state -> [CheckedContinuation<KafkaDeliveryReport, any Error>] in
            var continuations: [CheckedContinuation<KafkaDeliveryReport, any Error>] = []
            for (id, entry) in state.slots {
                switch entry.slot {
                case .waiting(let continuation):
                    continuations.append(continuation)
                    state.slots[id] = nil
                case .pending:
                    state.slots[id] = (entry.topic, .completed(KafkaDeliveryReport(
                        id: KafkaProducerMessageID(rawValue: id), topic: entry.topic, status: .failure(error))))
                case .completed, .cancelled:
                    break
                }
            }
            return continuations
        }
        for continuation in continuations { continuation.resume(throwing: error) }
    }

    /// Called on the event thread with one batch of delivery reports.
    private func handleDeliveries(_ results: UnsafeBufferPointer<RDKafkaClient.DeliveryResult>) {
        var acknowledged = 0
        var failures = 0
        var awaited: [RDKafkaClient.DeliveryResult] = []
        for result in results {
            if result.error == RD_KAFKA_RESP_ERR_NO_ERROR {
                acknowledged += 1
            } else {
                failures += 1
            }
            if result.opaque & Self.awaitedBit != 0 {
                awaited.append(result)
            } else if result.error != RD_KAFKA_RESP_ERR_NO_ERROR {
                let error = KafkaError.rdKafka(result.error, code: .messageDelivery, context: "delivery of message \(result.opaque)")
                logger.warning("message delivery failed", metadata: ["error": "\(error.reason)"])
            }
        }
        delivered.add(acknowledged, ordering: .relaxed)
        failed.add(failures, ordering: .relaxed)
        if acknowledged > 0 { deliveredCounter.increment(by: acknowledged) }
        if failures > 0 { failureCounter.increment(by: failures) }
        guard !awaited.isEmpty else { return }

        var resumptions: [(CheckedContinuation<KafkaDeliveryReport, any Error>, Result<KafkaDeliveryReport, any Error>)] = []
        state.withLockedValue { state in
            for result in awaited {
                guard let entry = state.slots[result.opaque] else { continue }
                let report = Self.report(for: result, topic: entry.topic)
                switch entry.slot {
                case .pending:
                    state.slots[result.opaque] = (entry.topic, .completed(report))
                case .waiting(let continuation):
                    state.slots[result.opaque] = nil
                    switch report.status {
                    case .acknowledged: resumptions.append((continuation, .success(report)))
                    case .failure(let error): resumptions.append((continuation, .failure(error)))
                    }
                case .cancelled:
                    state.slots[result.opaque] = nil
                case .completed:
                    break
                }
            }
        }
        for (continuation, result) in resumptions { continuation.resume(with: result) }
    }

    private static func report(for result: RDKafkaClient.DeliveryResult, topic: String) -> KafkaDeliveryReport {
        let id = KafkaProducerMessageID(rawValue: result.opaque)
        if result.error == RD_KAFKA_RESP_ERR_NO_ERROR {
            return KafkaDeliveryReport(id: id, topic: topic, status: .acknowledged(
                partition: KafkaPartition(rawValue: result.partition), offset: KafkaOffset(rawValue: result.offset)))
        }
        let error = KafkaError.rdKafka(result.error, code: .messageDelivery, context: "delivery to \(topic)")
        return KafkaDeliveryReport(id: id, topic: topic, status: .failure(error))
    }
}

extension KafkaDeliveryReport {
    /// The report's value, throwing its delivery error.
    fileprivate func get() throws -> KafkaDeliveryReport {
        if case .failure(let error) = status { throw error }
        return self
    }
}
