import ComplaintEvents
import ComplaintStore
import Foundation
import Logging
import Metrics
import NIOConcurrencyHelpers
import PostgresNIO
import RdKafka
import ServiceLifecycle

/// Settings of one stage's pipeline.
public struct PipelineConfiguration: Sendable {
    /// The service name, as in logs, metrics and dead-letter records (e.g. `classifier`).
    public var serviceName: String
    /// The service's own PostgreSQL schema, holding its inbox and outbox.
    public var schema: SchemaName
    /// Backoff for transient failures, and attempts for unknown ones.
    public var retry = RetryPolicy()
    /// Messages taken from the consumer at once.
    public var maximumBatchSize = 256
    /// Under a backlog, up to this many queued events of one partition are applied in one transaction
    /// (one inbox statement, one outbox statement, one commit) instead of one each; a lane never waits
    /// to fill a batch, so a quiet stage still applies each event as it comes. If the shared
    /// transaction fails, it is rolled back and its events are applied one at a time, with the usual
    /// retries and dead letters. 1 applies every event in its own transaction.
    public var maximumEventsPerTransaction = 32
    /// Messages read but not yet applied, over all lanes: the reader waits beyond it. Larger than a
    /// partition's fetched chunk (see ``StageRuntime``'s `max.partition.fetch.bytes`), so that the reader
    /// reaches the other partitions' messages while one lane is busy.
    public var maximumInFlight = 2048
    /// Messages queued for one partition's lane at which its partition is paused (resumed at half):
    /// a lane retrying a failure for long holds back its own partition, while the reader goes on
    /// with the others and keeps polling. `nil`: a quarter of ``maximumInFlight``.
    public var maximumQueuedPerPartition: Int?
    /// How long the reader waits for room among the ``maximumInFlight`` messages before it pauses the
    /// partition of the lane holding the most of them, so that it goes back to polling: lanes each
    /// stuck below ``maximumQueuedPerPartition`` (a database outage, a bug failing every partition)
    /// would otherwise fill the room, stop the reader, and after `max.poll.interval.ms` get the consumer
    /// dropped from its group, over and over.
    public var readAheadWait: Duration = .seconds(10)
    /// The client's connections start with ``schema`` on their `search_path` (the runtime's own pool),
    /// so transactions need no `SET LOCAL search_path`; `false` for a pool shared across schemas.
    public var connectionsUseSchema = false
    /// Per topic and partition, the first offset not to apply (a replay of a time range stops there);
    /// messages at or past it are left unread. `nil`: no end.
    public var stopOffsets: [String: [Int32: Int64]]?
    /// Message timestamps (milliseconds since 1970) applied; a message outside is passed over (its
    /// offset stored, nothing applied): a replay's time range where the broker cannot look offsets up
    /// by time (librdkafka's mock cluster). `nil`: every message.
    public var timestamps: Range<Int64>?
    /// How long the inbox remembers an event (``RetentionService``'s age): a message whose timestamp is
    /// older is passed over (its offset stored, nothing applied, counted as
    /// `pipeline_events_too_old_total`), since its inbox mark may be purged already and applying it
    /// could apply it twice. Kafka can keep a record past `retention.ms` (until its segment rolls), and a
    /// group whose offsets expired reads again from the earliest one. `nil`: no horizon (a replay into
    /// a fresh schema).
    public var inboxHorizon: Duration?
    /// The longest one of its database transactions or look-ups may hold its connection before the
    /// connection is closed, failing the work (retried) instead of waiting ~15 min for the kernel when the
    /// host vanished with a statement in flight (``ServiceSettings/statementBound``). Pipeline work has no
    /// server-side `statement_timeout`: this is the longest a single transaction may take.
    public var statementBound: Duration = PostgresClient.defaultStatementBound
    /// When a rebalance takes partitions away, how long the consumer's rebalance callback waits for their
    /// lanes to finish the message (or shared transaction) in hand and store its offset before the
    /// partitions go to their next owner, which then starts after it instead of preparing it again (an
    /// outside call made twice). What the lanes had queued is dropped at once. It holds up the group's
    /// rebalance, so it stays well below the session timeout and `max.poll.interval.ms`; a lane still busy
    /// after it completes its message without storing the offset (the inbox keeps its effect single).
    public var revocationWait: Duration = .seconds(3)

    public init(serviceName: String, schema: SchemaName) {
        self.serviceName = serviceName
        self.schema = schema
    }
}

extension PipelineConfiguration {
    /// Why `message` is passed over without being applied (outside ``timestamps``, or older than
    /// ``inboxHorizon`` at `now` unless `inboxHorizonApplies` is `false`: an input whose handler is
    /// idempotent by content, ``StageInput/applyingEventsPastInboxHorizon()``), or `nil` when it is to be
    /// applied.
    public func passedOver(_ message: KafkaConsumerMessage, now: Date = Date(), inboxHorizonApplies: Bool = true) -> MessageOutcome? {
        guard let timestamp = message.timestampMilliseconds else { return nil }
        if let timestamps, !timestamps.contains(timestamp) { return .outsideRange }
        if inboxHorizonApplies, let inboxHorizon, Double(timestamp) < now.timeIntervalSince1970 * 1000 - inboxHorizon / .milliseconds(1) {
            return .tooOld
        }
        return nil
    }
}

/// The consume → decode → inbox → handle → commit → store-offset loop every stage runs, over all of
/// the stage's inputs on one consumer.
///
/// For each message: find the ``StageInput`` of its topic and decode it through that input's ``Topic``
/// (invalid, or a topic without an input → dead-letter with the precise reason); then, in one
/// PostgreSQL transaction with the service's schema on the `search_path`, record the event id in the
/// inbox (already there → skip), let the handler apply it, and write its output events to the outbox.
/// Only after the batch's transactions committed are the offsets stored. Transient failures are
/// retried with backoff and never dead-lettered; permanent ones are dead-lettered at once.
///
/// A complaint's messages are applied in order (a partition's, apart from events of different hotels
/// for an input that locks hotels); different partitions (of any topic) are applied concurrently, each
/// in its own lane that outlives the consumer's batches (one transaction at a time). When several of a
/// partition's events are queued, a lane applies them together in one transaction, or one per hotel
/// (``PipelineConfiguration/maximumEventsPerTransaction``; inputs that opt out excepted), and falls
/// back to one transaction per event if that fails.
///
/// On graceful shutdown it finishes the messages in hand, stores the offsets of what it completed
/// and returns; the consumer then commits them.
public final class EventPipelineService: Service {
    /// Test hooks: simulate a crash at the two dangerous points of the loop, and observe what became
    /// of each message.
    public struct CrashPoints: Sendable {
        /// Called inside the transaction, after the handler ran, before the commit.
        public var beforeCommit: @Sendable (KafkaConsumerMessage) throws -> Void = { _ in }
        /// Called after the commit, before the offset is stored.
        public var afterCommit: @Sendable (KafkaConsumerMessage) throws -> Void = { _ in }
        /// Called with each message's outcome once it is settled (before its offset is stored).
        public var settled: @Sendable (MessageOrigin, MessageOutcome) -> Void = { _, _ in }
        /// Called with the messages of a shared transaction that failed and was rolled back, before
        /// they are applied one at a time.
        public var fellBack: @Sendable ([MessageOrigin]) -> Void = { _ in }
        public init() {}
    }

    private let inputs: [String: StageInput]
    private let consumer: KafkaConsumer
    private let client: PostgresClient
    private let deadLetters: DeadLetterPublisher
    private let configuration: PipelineConfiguration
    private let inbox: ProcessedEvents
    private let outbox: Outbox
    private let workQueue: WorkQueue
    /// Read access to the schema for preparing handlers.
    private let preparationStore: StageStore
    private let crashPoints: CrashPoints
    private let logger: Logger
    private let handleTimers: [String: Timer]
    /// More than one input shares transactions: lanes of different topics may then hold events of the
    /// same complaints, and a shared transaction locks its complaints first.
    private let lanesMayShareComplaints: Bool

    /// - Parameter inputs: The stage's inputs; the consumer must be subscribed to exactly their topics.
    public init(
        inputs: [StageInput],
        consumer: KafkaConsumer,
        client: PostgresClient,
        deadLetters: DeadLetterPublisher,
        configuration: PipelineConfiguration,
        crashPoints: CrashPoints = CrashPoints(),
        logger: Logger
    ) {
        precondition(Set(inputs.map(\.topic)).count == inputs.count, "a topic is listed twice among the stage's inputs")
        self.inputs = Dictionary(uniqueKeysWithValues: inputs.map { ($0.topic, $0) })
        self.consumer = consumer
        self.client = client
        self.deadLetters = deadLetters
        self.configuration = configuration
        self.inbox = ProcessedEvents(schema: configuration.schema)
        self.outbox = Outbox(schema: configuration.schema)
        self.workQueue = WorkQueue(schema: configuration.schema)
        self.preparationStore = StageStore(
            client: client, schema: configuration.schema, connectionsUseSchema: configuration.connectionsUseSchema, logger: logger)
        self.crashPoints = crashPoints
        self.lanesMayShareComplaints = inputs.filter(\.sharesTransactions).count > 1
        var logger = logger
        logger[metadataKey: LoggingKeys.service] = "\(configuration.serviceName)"
        self.logger = logger
        self.handleTimers = Dictionary(uniqueKeysWithValues: inputs.map { input in
            (input.topic, Timer(label: "pipeline_handle_duration_seconds", dimensions: [
                ("service", configuration.serviceName), ("topic", input.topic),
            ], preferredDisplayUnit: .seconds))
        })
    }


    public func run() async throws {
        // One lane per partition (of any topic), alive across consumer batches: a partition's messages
        // are applied in order, different partitions side by side. Under a backlog librdkafka hands over
        // one partition's fetched chunk per batch, so lanes that lived only as long as a batch would
        // apply one event at a time; these keep every partition's lane busy. `LaneFlow` bounds the
        // messages read but not yet applied.
        let flow = LaneFlow(limit: max(1, configuration.maximumInFlight))
        let (newLanes, laneOpener) = AsyncStream<LaneQueue>.makeStream()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                defer { laneOpener.finish() }
                try await self.read(opening: laneOpener, flow: flow)
            }
            for await lane in newLanes {
                group.addTask { try await self.drain(lane, flow: flow, onFailure: { laneOpener.finish() }) }
            }
            // Reading ended (graceful shutdown, the consumer closed, an event abandoned) or a lane failed.
            if flow.hasFailed { group.cancelAll() }
            try await group.waitForAll()
        }
        logger.info("pipeline stopped")
    }

    /// Reads the consumer's batches and hands each message to its partition's lane, opening lanes as
    /// partitions appear; waits while too many messages are in flight.
    private func read(opening laneOpener: AsyncStream<LaneQueue>.Continuation, flow: LaneFlow) async throws {
        let lanes = LaneRegistry()
        let laneLimit = configuration.maximumQueuedPerPartition ?? max(1, configuration.maximumInFlight / 4)
        consumer.onRevocation { [logger = self.logger, wait = configuration.revocationWait] partitions in
            Self.revoke(partitions, of: lanes, waitingAtMost: wait, logger: logger)
        }
        defer {
            consumer.onRevocation(nil)
            // What is still queued is skipped (its offset is not stored: it is redelivered).
            flow.stopTaking()
            for lane in lanes.all { lane.finish() }
        }
        for try await batch in consumer.batches(maximumCount: configuration.maximumBatchSize).cancelOnGracefulShutdown() {
            for message in batch {
                if let stop = configuration.stopOffsets?[message.topic]?[message.partition.rawValue], message.offset.rawValue >= stop {
                    continue
                }
                let key = LaneRegistry.key(topic: message.topic, partition: message.partition.rawValue)
                let lane: LaneQueue
                if let open = lanes.lane(forKey: key) {
                    lane = open
                } else {
                    let consumer = self.consumer
                    let (topic, partition) = (message.topic, message.partition)
                    lane = LaneQueue(limit: laneLimit, flow: flow) { pause in
                        if pause { consumer.pause(topic: topic, partition: partition) } else { consumer.resume(topic: topic, partition: partition) }
                    }
                    lanes.open(lane, forKey: key)
                    laneOpener.yield(lane)
                }
                admission: while true {
                    if lane.isPaused {
                        guard flow.isTaking else { return }
                        lane.append(message, counted: false)
                        break admission
                    }
                    switch await flow.admit(waitingAtMost: configuration.readAheadWait) {
                    case .admitted:
                        lane.append(message, counted: true)
                        break admission
                    case .stopped:
                        return
                    case .timedOut:
                        // Room frees only as lanes apply what they hold: pause the partition of the lane
                        // holding the most (it resumes once it takes its queue down to half its limit).
                        let holder = lanes.all.max { $0.countedMessages < $1.countedMessages }
                        logger.warning("read-ahead full and not moving; pausing the partition holding the most", metadata: [
                            "pipeline.in_flight_limit": "\(configuration.maximumInFlight)",
                            "pipeline.lane_messages": "\(holder?.countedMessages ?? 0)",
                        ])
                        holder?.pauseForRoom()
                    }
                }
            }
        }
    }

    /// The consumer is letting go of `partitions` (a rebalance, or its close); runs on its poll thread.
    /// Their lanes drop what they queued and stop after the message in hand; this waits (at most `wait`)
    /// for that message to be done and its offset stored, then fences the lanes, so that nothing they
    /// complete later stores an offset. The consumer then commits and releases the partitions: their next
    /// owner starts after what was applied here, and prepares none of it again.
    static func revoke(
        _ partitions: [(topic: String, partition: KafkaPartition)], of lanes: LaneRegistry, waitingAtMost wait: Duration, logger: Logger
    ) {
        let revoked = lanes.remove(partitions.map { LaneRegistry.key(topic: $0.topic, partition: $0.partition.rawValue) })
        guard !revoked.isEmpty else { return }
        let dropped = revoked.reduce(0) { $0 + $1.revoke() }
        let deadline = DispatchTime.now() + .nanoseconds(Int(clamping: wait.nanosecondsTotal))
        let busy = revoked.filter { !$0.waitUntilIdle(until: deadline) }.count
        for lane in revoked { lane.fence() }
        let metadata: Logger.Metadata = [
            "kafka.partitions": "\(partitions.map { "\($0.topic)#\($0.partition)" })",
            "pipeline.dropped_messages": "\(dropped)", "pipeline.busy_lanes": "\(busy)",
        ]
        if busy > 0 {
            logger.warning("partitions revoked while a lane was still applying an event; its offset is left for the next owner", metadata: metadata)
        } else {
            logger.info("partitions revoked; their lanes let go", metadata: metadata)
        }
    }

    /// Applies one partition's messages in order, storing offsets once their effects (or dead letters)
    /// are durable: what is queued together in one transaction where it can, else one by one.
    private func drain(_ lane: LaneQueue, flow: LaneFlow, onFailure: @Sendable () -> Void) async throws {
        let most = max(1, configuration.maximumEventsPerTransaction)
        while true {
            let messages = await lane.next(maximum: most)
            if messages.isEmpty {
                // Cancelled: the reader may be waiting for room that this lane will not make.
                if Task.isCancelled { flow.stopTaking() }
                return
            }
            defer { lane.done(messages.count) }
            do {
                var index = messages.startIndex
                // A revoked lane stops after the message in hand: the partition's next owner reads the rest.
                lane: while index < messages.endIndex, flow.isTaking, !lane.isRevoked {
                    let together = sharable(messages[index...])
                    if together.count >= 2 {
                        // Shared transactions (one per hotel for an input that locks hotels); the events of
                        // one that failed and was rolled back are applied one at a time, in order, with what
                        // their preparation produced (an outside call is not made again for them), each
                        // event's offset stored once it is settled (with those of the committed ones before
                        // it), since applying them one by one can take long (a database outage retried).
                        // Once the partition is revoked or the pipeline stops taking, the lane goes on only
                        // with events whose preparation is in hand (an input that prepares nothing stops after
                        // the event in hand, as the lane does outside a fallback), and only while its offsets are stored
                        // (until the revocation fences it): an event that would need its outside call made
                        // again is left to the next owner, who makes that call anyway, and nothing is
                        // applied here beside the next owner.
                        for item in try await applyShared(together) {
                            if !flow.isTaking || lane.isRevoked, !item.prepares || item.prepared == nil { break lane }
                            if try await process(item.message, decoded: item.event, prepared: item.prepared) == .abandoned {
                                flow.stopTaking()
                                break lane
                            }
                            let settled = together.map(\.message).filter { $0.offset.rawValue <= item.message.offset.rawValue }
                            var stored = false
                            try lane.storeOffsets {
                                stored = true
                                try consumer.storeOffsets(settled)
                            }
                            if !stored { break lane }
                        }
                        try lane.storeOffsets { try consumer.storeOffsets(together.map(\.message)) }
                        index += together.count
                        continue
                    }
                    let message = messages[index]
                    // Decoded already when it could have shared a transaction but has no neighbour to.
                    if try await process(message, decoded: together.first?.event) == .abandoned {
                        flow.stopTaking()
                        break
                    }
                    try lane.storeOffsets { try consumer.storeOffsets([message]) }
                    index += 1
                }
            } catch {
                flow.fail()
                onFailure()
                throw error
            }
        }
    }

    /// Applies one message in its own transaction, retrying as its failure asks. `prepared`: what the
    /// event's preparation produced in a shared transaction that was rolled back, used by the first
    /// attempt instead of preparing again (retries prepare afresh).
    func process(_ message: KafkaConsumerMessage, decoded: DecodedEvent? = nil, prepared carried: PreparedEvent? = nil) async throws -> MessageOutcome {
        let origin = MessageOrigin(topic: message.topic, partition: message.partition.rawValue, offset: message.offset.rawValue)
        var logger = logger(for: message)

        if let passedOver = passedOver(message) {
            if passedOver == .tooOld { passOverTooOld(message, logger: logger) }
            crashPoints.settled(origin, passedOver)
            return passedOver
        }
        guard let input = inputs[message.topic] else {
            return try await deadLetter(message, reason: "no handler for topic \(message.topic) in \(configuration.serviceName)", attempts: 1)
        }
        let event: DecodedEvent
        do {
            event = try decoded ?? input.decode(Array(message.value.readableBytesView))
        } catch {
            return try await deadLetter(message, reason: "\(error)", attempts: 1)
        }
        Self.describe(event, in: &logger)

        var attempt = 1
        while true {
            do {
                let outcome = try await apply(
                    event, input: input, message: message, origin: origin, attempt: attempt, prepared: attempt == 1 ? carried : nil, logger: logger)
                try settleCommitted(message, origin: origin, outcome: outcome, logger: logger)
                return outcome
            } catch let crash as SimulatedCrash {
                throw crash
            } catch {
                let kind = FailureKind.of(error)
                switch kind {
                case .permanent:
                    return try await deadLetter(message, reason: "\(error)", attempts: attempt)
                case .unknown where attempt >= configuration.retry.maximumAttemptsForUnknownErrors:
                    return try await deadLetter(message, reason: "retries exhausted after \(attempt) attempts: \(error)", attempts: attempt)
                case .transient, .unknown:
                    logger.warning("applying event failed; retrying", metadata: [
                        "error": "\(String(reflecting: error))", "attempt": "\(attempt)", "error.kind": "\(kind)",
                    ])
                    guard await PipelineSleep.sleep(configuration.retry.delay(afterAttempt: attempt)) else {
                        logger.info("shutting down with the event unapplied; it will be redelivered")
                        return .abandoned
                    }
                    attempt += 1
                }
            }
        }
    }

    /// One attempt: preparation outside any transaction (for preparing handlers; `carried` when it was
    /// done already), then inbox, handler and outbox in one transaction.
    private func apply(
        _ event: DecodedEvent,
        input: StageInput,
        message: KafkaConsumerMessage,
        origin: MessageOrigin,
        attempt: Int,
        prepared carried: PreparedEvent?,
        logger: Logger
    ) async throws -> MessageOutcome {
        let clock = ContinuousClock()
        let start = clock.now
        defer { handleTimers[message.topic]?.recordInterval(since: start, clock: clock) }
        let inbox = self.inbox
        let outbox = self.outbox
        let workQueue = self.workQueue
        let crashPoints = self.crashPoints
        if input.prepares, carried == nil {
            // A known duplicate must not cost (or repeat) the outside call.
            let seen = try await client.withConnection(closingAfter: configuration.statementBound, logger: logger) {
                try await inbox.isProcessed(eventID: event.id, on: $0, logger: logger)
            }
            if seen { return .duplicate }
        }
        let prepared: PreparedEvent
        if let carried {
            prepared = carried
        } else {
            prepared = try await event.prepare(PreparationContext(logger: logger, store: preparationStore))
        }
        let schema = configuration.connectionsUseSchema ? nil : configuration.schema
        return try await client.transaction(schema: schema, closingAfter: configuration.statementBound, logger: logger) { connection -> MessageOutcome in
            guard try await inbox.markProcessed(eventID: event.id, topic: message.topic, on: connection, logger: logger) else {
                return .duplicate
            }
            let context = HandlerContext(logger: logger, connection: connection, origin: origin, attempt: attempt, workQueue: workQueue)
            let outgoing = try await prepared.apply(context)
            try await outbox.enqueue(outgoing.map(\.row), on: connection, logger: logger)
            try crashPoints.beforeCommit(message)
            return .applied
        }
    }

    /// Why `message` is passed over unapplied (``PipelineConfiguration/passedOver(_:now:inboxHorizonApplies:)``,
    /// the horizon left out for an input that applies events past it), or `nil`.
    private func passedOver(_ message: KafkaConsumerMessage) -> MessageOutcome? {
        configuration.passedOver(message, inboxHorizonApplies: inputs[message.topic]?.appliesEventsPastInboxHorizon != true)
    }

    /// The service's logger with where `message` was read from.
    private func logger(for message: KafkaConsumerMessage) -> Logger {
        var logger = self.logger
        logger[metadataKey: LoggingKeys.kafkaTopic] = "\(message.topic)"
        logger[metadataKey: LoggingKeys.kafkaPartition] = "\(message.partition)"
        logger[metadataKey: LoggingKeys.kafkaOffset] = "\(message.offset)"
        return logger
    }

    /// Adds the event's id, type and complaint to `logger`.
    private static func describe(_ event: DecodedEvent, in logger: inout Logger) {
        logger[metadataKey: LoggingKeys.eventID] = "\(event.id)"
        logger[metadataKey: LoggingKeys.eventType] = "\(event.type)"
        if let subject = event.subject { logger[metadataKey: LoggingKeys.complaintID] = "\(subject)" }
    }

    /// A message that can be applied together with its neighbours, decoded.
    private struct SharedItem: Sendable {
        let message: KafkaConsumerMessage
        let origin: MessageOrigin
        let event: DecodedEvent
        let prepares: Bool
        let logger: Logger
        /// What its preparation produced, once a shared transaction that prepared it was rolled back.
        var prepared: PreparedEvent?
    }

    /// The longest run of messages at the front of `messages` that can share one transaction: decoded,
    /// of an input that shares transactions, inside the time range, distinct ids. Everything else (a dead
    /// letter, an input that opted out, a repeated id) is left to ``process(_:)``.
    private func sharable(_ messages: ArraySlice<KafkaConsumerMessage>) -> [SharedItem] {
        var items: [SharedItem] = []
        var ids = Set<UUID>()
        for message in messages {
            if passedOver(message) != nil {
                break
            }
            guard let input = inputs[message.topic], input.sharesTransactions,
                  let event = try? input.decode(Array(message.value.readableBytesView)),
                  ids.insert(event.id).inserted
            else { break }
            var logger = logger(for: message)
            Self.describe(event, in: &logger)
            let origin = MessageOrigin(topic: message.topic, partition: message.partition.rawValue, offset: message.offset.rawValue)
            items.append(SharedItem(message: message, origin: origin, event: event, prepares: input.prepares, logger: logger))
        }
        return items
    }

    /// Applies `items` in shared transactions and returns those of a transaction that failed and was
    /// rolled back (to be applied one at a time), with their preparations. For an input whose handlers
    /// lock their hotel first, one transaction per hotel, holding only that hotel's lock: lanes then take
    /// turns per hotel, not for every hotel at once (a partition holds complaints of every hotel). A
    /// complaint has one hotel, so its events stay in order.
    private func applyShared(_ items: [SharedItem]) async throws -> [SharedItem] {
        guard inputs[items[0].message.topic]?.locksFirst?.onePerHotel == true else {
            return try await applyTogether(items)
        }
        var failed: [SharedItem] = []
        for (_, group) in Dictionary(grouping: items, by: \.event.hotelID).sorted(by: { $0.key < $1.key }) {
            failed += try await applyTogether(group)
        }
        // Back in the partition's order.
        return failed.sorted { $0.origin.offset < $1.origin.offset }
    }

    /// Applies `items` in order in one transaction: one inbox statement for all their ids, the locks the
    /// input takes first (``TransactionLocks``) for all new events, each new event's handler, one outbox
    /// statement for all their output. Preparing handlers prepare first, in order, outside the
    /// transaction, except for events one inbox query finds already processed. Returns nothing once
    /// committed, or, when it failed and was rolled back (nothing of it is left), `items` with what their
    /// preparations produced: the caller then applies them one at a time without preparing them again (a
    /// failure of one event, or a deadlock, says nothing against the others' outside answers).
    private func applyTogether(_ items: [SharedItem]) async throws -> [SharedItem] {
        let clock = ContinuousClock()
        let start = clock.now
        let inbox = self.inbox
        let outbox = self.outbox
        let workQueue = self.workQueue
        let crashPoints = self.crashPoints
        let schema = configuration.connectionsUseSchema ? nil : configuration.schema
        let keySpace = configuration.schema
        let lanesMayShareComplaints = self.lanesMayShareComplaints
        // A lane is one partition of one topic: all of them are of one input.
        let locksFirst = items.first.flatMap { inputs[$0.message.topic]?.locksFirst }
        let logger = self.logger
        let outcomes: [MessageOutcome]
        var prepared: [PreparedEvent?] = []
        prepared.reserveCapacity(items.count)
        do {
            // Known duplicates must not cost (or repeat) a preparing handler's outside call.
            let preparing = items.filter(\.prepares).map(\.event.id)
            let seen = preparing.isEmpty
                ? []
                : try await client.withConnection(closingAfter: configuration.statementBound, logger: logger) {
                    try await inbox.processed(among: preparing, on: $0, logger: self.logger)
                }
            for item in items {
                prepared.append(seen.contains(item.event.id)
                    ? nil : try await item.event.prepare(PreparationContext(logger: item.logger, store: preparationStore)))
            }
            let preparedEvents = prepared
            outcomes = try await client.transaction(schema: schema, closingAfter: configuration.statementBound, logger: logger) {
                connection -> [MessageOutcome] in
                let unseen = zip(items, preparedEvents).filter { $1 != nil }.map { ($0.0.event.id, $0.0.message.topic) }
                let fresh = try await inbox.markProcessed(unseen, on: connection, logger: logger)
                let applying = items.filter { fresh.contains($0.event.id) }
                // Two lanes of one stage (two topics) may hold events of the same complaints in different
                // orders: each shared transaction takes its complaints' locks first, in one order. With one
                // such input, a complaint's events are all in one partition, so in one lane.
                if lanesMayShareComplaints {
                    try await Self.lockComplaints(
                        Set(applying.compactMap(\.event.subject)).sorted(), keySpace: keySpace, on: connection, logger: logger)
                }
                // Then the rows beyond them that the handlers will lock (a hotel, a guest): all at once, in
                // one order, so two lanes holding the same keys in different orders never wait on each
                // other in a cycle; each handler's own lock then returns at once.
                if let locksFirst {
                    let keys = Set(applying.flatMap(\.event.lockKeys)).sorted()
                    if !keys.isEmpty { try await locksFirst.acquire(keys, connection, logger) }
                }
                var rows: [OutboxRow] = []
                var outcomes: [MessageOutcome] = []
                for (item, event) in zip(items, preparedEvents) {
                    guard let event, fresh.contains(item.event.id) else {
                        outcomes.append(.duplicate)
                        continue
                    }
                    let context = HandlerContext(logger: item.logger, connection: connection, origin: item.origin, attempt: 1, workQueue: workQueue)
                    rows += try await event.apply(context).map(\.row)
                    try crashPoints.beforeCommit(item.message)
                    outcomes.append(.applied)
                }
                try await outbox.enqueue(rows, on: connection, logger: logger)
                return outcomes
            }
        } catch let crash as SimulatedCrash {
            throw crash
        } catch {
            logger.debug("applying \(items.count) events in one transaction failed; applying them one at a time", metadata: [
                "error": "\(String(reflecting: error))",
            ])
            Counter(label: "pipeline_shared_fallbacks_total", dimensions: [
                ("service", configuration.serviceName), ("topic", items[0].message.topic),
            ]).increment()
            crashPoints.fellBack(items.map(\.origin))
            return zip(items, prepared + repeatElement(nil, count: items.count - prepared.count)).map { item, preparation in
                var item = item
                item.prepared = preparation
                return item
            }
        }
        let elapsed = clock.now - start
        for (item, outcome) in zip(items, outcomes) {
            handleTimers[item.message.topic]?.recordInterval(elapsed / items.count)
            try settleCommitted(item.message, origin: item.origin, outcome: outcome, logger: item.logger)
        }
        return []
    }

    /// After a message's transaction committed (alone or shared): the crash hook, the count by outcome,
    /// the settled hook.
    private func settleCommitted(_ message: KafkaConsumerMessage, origin: MessageOrigin, outcome: MessageOutcome, logger: Logger) throws {
        try crashPoints.afterCommit(message)
        Counter(label: "pipeline_events_total", dimensions: [
            ("service", configuration.serviceName), ("topic", message.topic), ("outcome", outcome.rawValue),
        ]).increment()
        if outcome == .duplicate { logger.debug("event already processed; skipped") }
        crashPoints.settled(origin, outcome)
    }

    /// Transaction-scoped advisory locks on `subjects` (complaint ids), taken in the order given (sorted
    /// by the caller), in a key space of the service's own (see ``SubjectLock``): one key space for all
    /// would make the notifier wait for the metrics service's transactions, and each for the others'.
    static func lockComplaints(
        _ subjects: [String], keySpace schema: SchemaName, on connection: PostgresConnection, logger: Logger
    ) async throws {
        guard subjects.count > 1 else { return }
        try await SubjectLock.acquire(subjects, keySpace: "redress.pipeline.\(schema.rawValue)", on: connection, logger: logger)
    }

    private func passOverTooOld(_ message: KafkaConsumerMessage, logger: Logger) {
        logger.warning("message older than the inbox remembers; passed over unapplied (raise INBOX_RETENTION_DAYS above the topic's retention.ms + segment.ms)", metadata: [
            "kafka.timestamp": "\(message.timestampMilliseconds ?? 0)", "inbox.horizon": "\(configuration.inboxHorizon ?? .zero)",
        ])
        Counter(label: "pipeline_events_too_old_total", dimensions: [
            ("service", configuration.serviceName), ("topic", message.topic),
        ]).increment()
    }

    private func deadLetter(_ message: KafkaConsumerMessage, reason: String, attempts: Int) async throws -> MessageOutcome {
        guard await deadLetters.publish(message, reason: reason, attempts: attempts) else { return .abandoned }
        crashPoints.settled(
            MessageOrigin(topic: message.topic, partition: message.partition.rawValue, offset: message.offset.rawValue), .deadLettered)
        return .deadLettered
    }
}

/// What became of one consumed message.
public enum MessageOutcome: String, Sendable, Hashable {
    /// The handler applied it; its effect and output events committed.
    case applied
    /// Its event id was in the inbox already: a redelivery, skipped.
    case duplicate
    /// It went to the dead-letter topic with its reason.
    case deadLettered = "dead_lettered"
    /// Graceful shutdown began before it was settled; it will be redelivered.
    case abandoned
    /// Its timestamp is outside the pipeline's ``PipelineConfiguration/timestamps`` (a replay's range):
    /// passed over, nothing applied.
    case outsideRange = "outside_range"
    /// Its timestamp is older than ``PipelineConfiguration/inboxHorizon``: the inbox may have forgotten
    /// it, so it is passed over, nothing applied (logged and counted as `pipeline_events_too_old_total`).
    case tooOld = "too_old"
}

/// Thrown by ``EventPipelineService/CrashPoints`` hooks in tests: ends `run()` on the spot, like a
/// process that dies, without storing the offset of the message in hand.
public struct SimulatedCrash: Error, Hashable {
    public init() {}
}

extension Timer {
    func recordInterval(since start: ContinuousClock.Instant, clock: ContinuousClock) {
        recordInterval(clock.now - start)
    }

    func recordInterval(_ elapsed: Duration) {
        recordNanoseconds(elapsed.nanosecondsTotal)
    }
}
