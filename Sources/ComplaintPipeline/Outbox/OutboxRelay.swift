import ComplaintEvents
import ComplaintStore
import CRdKafka
import Foundation
import Logging
import Metrics
import NIOConcurrencyHelpers
import PostgresNIO
import RdKafka
import ServiceLifecycle

/// Publishes a service's outbox to Kafka: the second half of "effect and events commit together".
///
/// Each round leases unsent rows (``ComplaintStore/Outbox/claim(limit:lease:on:logger:)``: one statement,
/// `FOR UPDATE SKIP LOCKED`, oldest row per complaint only, so events of one complaint go out in order),
/// publishes them with the idempotent producer *outside any transaction*, and marks a row sent only after
/// its delivery report acknowledged it; a row that failed is released for the next round. No database
/// transaction waits for Kafka: while the broker is down, the relay holds leases, not locks. A relay that
/// dies mid-round leaves leases that run out after ``Configuration/lease``; the rows are then published
/// again (consumers de-duplicate by event id), never lost.
///
/// It wakes at once on the `NOTIFY` a committing stage sends, and sweeps every
/// ``Configuration/sweepInterval`` for rows a crash or a missed notification left behind.
///
/// **Rows that keep failing.** A failed row waits ``Configuration/rowRetry``'s backoff before any relay
/// claims it again, so a few rows the broker refuses (a topic the service may not write, a message over
/// the broker's limit) do not take a place in every round while the rest of the outbox waits. A row the
/// broker can *never* accept (``isUndeliverable(_:)``: too large, an invalid record or topic name) goes to
/// the dead-letter topic after ``Configuration/attemptsBeforeDeadLetter`` attempts, so its complaint's
/// later events are not held back for ever; nothing is dropped.
public final class OutboxRelay: Service {
    /// How many rows a round claims and how often the relay sweeps for missed notifications.
    public struct Configuration: Sendable {
        /// Rows claimed per round.
        public var batchSize = 200
        /// How often to look for rows without a notification.
        public var sweepInterval: Duration = .seconds(1)
        /// The longest a publish may wait for its delivery report before the row is released for a retry.
        public var publishTimeout: Duration = .seconds(30)
        /// How long claimed rows stay reserved for this relay; longer than ``publishTimeout`` so a
        /// slow but live round is never overtaken by another relay (its dead letters, sent after the
        /// acknowledged rows are marked, wait only for what is left of it).
        public var lease: Duration = .seconds(60)
        /// Backoff after a failed round (database or broker down).
        public var retry = RetryPolicy()
        /// Backoff of one row whose publish failed, by its failed attempts: no relay claims it again before.
        public var rowRetry: RetryPolicy = {
            var policy = RetryPolicy()
            policy.initialDelay = .milliseconds(500)
            policy.maximumDelay = .seconds(30)
            return policy
        }()
        /// Failed attempts, each refused as undeliverable, after which a row goes to the dead-letter topic.
        public var attemptsBeforeDeadLetter = 3
        /// Put before every row's topic when it is published (``ServiceSettings/topicPrefix``).
        public var topicPrefix = ""
        /// The longest one of its claims or marks may hold its connection before the
        /// connection is closed, failing the work (retried) instead of waiting ~15 min for the kernel when the
        /// host vanished with a statement in flight (``ServiceSettings/statementBound``). Pipeline work has no
        /// server-side `statement_timeout`: this is the longest a single transaction may take.
        public var statementBound: Duration = PostgresClient.defaultStatementBound
        public init() {}

        /// The producer's `message.timeout.ms` for this relay: below ``publishTimeout``, so librdkafka
        /// gives up on a message before the relay stops waiting for it. Otherwise the message stays
        /// queued inside librdkafka while the relay's next round produces the row again: a broker outage
        /// of minutes left several copies of every pending event on the topic.
        public var producerMessageTimeout: Duration { publishTimeout * 4 / 5 }

        /// How long a round's dead letters may wait for their delivery reports, given what is left of its
        /// lease (less its margin for the marks); `nil` when too little is left to send any. They get what a
        /// publish gets: a whole ``publishTimeout``, the margin over ``producerMessageTimeout`` included. The
        /// wait starts before the dead letter is produced, so a wait of just the message timeout could end
        /// before a report librdkafka delivers at its message timeout: the row would be released and
        /// dead-lettered again next round (two records on the dead-letter topic).
        public func deadLetterWait(leaseLeft: Duration) -> Duration? {
            leaseLeft >= publishTimeout ? publishTimeout : nil
        }
    }

    private let outbox: Outbox
    private let client: PostgresClient
    private let producer: KafkaProducer
    private let configuration: Configuration
    private let logger: Logger
    private let wakeup = Wakeup()
    private let publishedCounter: Counter
    private let deadLetteredCounter: Counter
    private let deadLetters: DeadLetterPublisher?
    private let rounds: RoundReporter?

    /// - Parameters:
    ///   - deadLetters: Where rows the broker can never accept go; without it they are retried (with
    ///     backoff) for ever.
    ///   - rounds: Learns whether each round got anything through (readiness's stall check).
    public init(
        outbox: Outbox, client: PostgresClient, producer: KafkaProducer, deadLetters: DeadLetterPublisher? = nil,
        configuration: Configuration = Configuration(), rounds: RoundReporter? = nil, logger: Logger
    ) {
        self.rounds = rounds
        precondition(configuration.lease > configuration.publishTimeout, "the lease must outlast a publish")
        self.outbox = outbox
        self.client = client
        self.producer = producer
        self.deadLetters = deadLetters
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "outbox"] = "\(outbox.schema)"
        self.logger = logger
        self.publishedCounter = Counter(label: "outbox_messages_published_total", dimensions: [("schema", "\(outbox.schema)")])
        self.deadLetteredCounter = Counter(label: "outbox_messages_dead_lettered_total", dimensions: [("schema", "\(outbox.schema)")])
    }

    /// Whether a publish failed because the broker can never accept this message, whatever the retries:
    /// larger than the message limit, an invalid record, an invalid topic name. A missing topic or a
    /// denied one is not: an operator can create or allow it, and the row goes out then.
    public static func isUndeliverable(_ error: any Error) -> Bool {
        guard let kafkaError = error as? KafkaError, let code = kafkaError.librdkafkaCode else { return false }
        return [RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE,
                RD_KAFKA_RESP_ERR_INVALID_RECORD, RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION].contains { $0.rawValue == code }
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    await self.wakeup.follow(channel: self.outbox.notificationChannel, client: self.client, logger: self.logger)
                }
                await self.relayLoop()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            // End a wait for work at once; the round in progress, if any, finishes first.
            self.wakeup.signal()
        }
        logger.info("outbox relay stopped")
    }

    /// Claims and publishes until graceful shutdown.
    private func relayLoop() async {
        var failures = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let (claimed, published) = try await relayRound()
                if claimed > 0 && published == 0 {
                    // Nothing got through (the broker is down): back off instead of spinning.
                    rounds?.failed("\(claimed) rows claimed, none published")
                    failures += 1
                    guard await PipelineSleep.sleep(configuration.retry.delay(afterAttempt: failures)) else { return }
                    continue
                }
                rounds?.succeeded()
                failures = 0
                // A full batch means more is waiting: go again at once.
                if claimed == configuration.batchSize { continue }
            } catch {
                rounds?.failed("\(error)")
                failures += 1
                logger.warning("outbox relay round failed; retrying", metadata: [
                    LoggingKeys.error: "\(String(reflecting: error))", LoggingKeys.attempt: "\(failures)",
                ])
                guard await PipelineSleep.sleep(configuration.retry.delay(afterAttempt: failures)) else { return }
                continue
            }
            await wakeup.wait(timeout: configuration.sweepInterval)
        }
    }

    /// One round: claim, publish, mark.
    /// - Returns: The number of rows claimed.
    @discardableResult
    public func relayOnce() async throws -> Int {
        try await relayRound().claimed
    }

    private func relayRound() async throws -> (claimed: Int, published: Int) {
        let producer = self.producer
        let outbox = self.outbox
        let logger = self.logger
        let configuration = self.configuration
        // Taken before the claim: the lease ends no earlier than this plus the lease.
        let leaseEnd = ContinuousClock.now + configuration.lease
        let claim = try await client.withConnection(closingAfter: configuration.statementBound, logger: logger) { connection in
            try await outbox.claim(limit: configuration.batchSize, lease: configuration.lease, on: connection, logger: logger)
        }
        guard !claim.records.isEmpty else { return (0, 0) }
        // A claim holds at most one row per complaint, so publishing them concurrently keeps every
        // complaint's order.
        let outcomes = await withTaskGroup(of: (OutboxRecord, (any Error)?).self) { group in
            for record in claim.records {
                group.addTask {
                    let message = KafkaProducerMessage(
                        topic: configuration.topicPrefix + record.topic,
                        key: record.key,
                        value: record.value,
                        headers: record.headers.map { KafkaHeader(key: $0.key, value: $0.value) }
                    )
                    do {
                        _ = try await withDeadline(configuration.publishTimeout) { try await producer.sendAndAwait(message) }
                        return (record, nil)
                    } catch {
                        return (record, error)
                    }
                }
            }
            var outcomes: [(OutboxRecord, (any Error)?)] = []
            for await outcome in group { outcomes.append(outcome) }
            return outcomes
        }
        let sent = outcomes.filter { $0.1 == nil }.map(\.0.id)
        let failed = outcomes.compactMap { record, error in error.map { (record: record, error: $0) } }
        let undeliverable = failed.filter {
            deadLetters != nil && Self.isUndeliverable($0.error) && $0.record.attempts + 1 >= configuration.attemptsBeforeDeadLetter
        }
        // What the broker acknowledged is marked sent before any dead letter goes out: dead letters may
        // take a publish timeout of their own, and rows still unmarked when the lease ran out would be
        // claimed and published again by another relay.
        try await client.withConnection(closingAfter: configuration.statementBound, logger: logger) { connection in
            try await outbox.markSent(ids: sent, on: connection, logger: logger)
            for (record, error) in failed where !undeliverable.contains(where: { $0.record.id == record.id }) {
                try await self.release(record, error: "\(error)", claim: claim, on: connection)
            }
        }
        if !sent.isEmpty { publishedCounter.increment(by: sent.count) }

        // All at once, each within what is left of the lease (less a twentieth of it for the marks), and
        // only when that covers a whole publish timeout (``Configuration/deadLetterWait(leaseLeft:)``): a
        // shorter wait could give up on a dead letter librdkafka still delivers (and the row would be
        // dead-lettered again). Then none is sent this round, the rows are released and the next round,
        // with a lease of its own, dead-letters them.
        let left = leaseEnd - ContinuousClock.now - configuration.lease / 20
        let deadLettered: [(record: OutboxRecord, error: any Error, deadLettered: Bool)]
        if undeliverable.isEmpty {
            deadLettered = []
        } else if let deadLetterWait = configuration.deadLetterWait(leaseLeft: left) {
            deadLettered = await withTaskGroup(of: (OutboxRecord, any Error, Bool).self) { group in
                for (record, error) in undeliverable {
                    group.addTask { (record, error, await self.deadLetter(record, error: error, wait: deadLetterWait)) }
                }
                var results: [(record: OutboxRecord, error: any Error, deadLettered: Bool)] = []
                for await result in group { results.append(result) }
                return results
            }
        } else {
            logger.info("too little of the lease left to dead-letter undeliverable outbox rows; the next round does", metadata: [
                "rows": "\(undeliverable.count)", "leaseLeft": "\(left)",
            ])
            deadLettered = undeliverable.map { ($0.record, $0.error, false) }
        }
        if !deadLettered.isEmpty {
            try await client.withConnection(closingAfter: configuration.statementBound, logger: logger) { connection in
                for (record, error, done) in deadLettered {
                    if done {
                        try await outbox.markDeadLettered(id: record.id, error: "\(error)", claim: claim, on: connection, logger: logger)
                    } else {
                        try await self.release(record, error: "\(error)", claim: claim, on: connection)
                    }
                }
            }
        }
        if sent.count < claim.records.count {
            logger.info("some outbox rows could not be published; they stay unsent", metadata: [
                "claimed": "\(claim.records.count)", "published": "\(sent.count)",
                "deadLettered": "\(deadLettered.filter(\.deadLettered).count)",
            ])
        }
        return (claim.records.count, sent.count)
    }

    /// Gives a row whose publish failed back for a later round, after its backoff.
    private func release(_ record: OutboxRecord, error: String, claim: OutboxClaim, on connection: PostgresConnection) async throws {
        let backoff = configuration.rowRetry.delay(afterAttempt: record.attempts + 1)
        try await outbox.release(id: record.id, error: error, claim: claim, retryAfter: backoff, on: connection, logger: logger)
    }

    /// Publishes `record` to the dead-letter topic once, outside any transaction, waiting at most `wait`.
    /// - Returns: Whether the dead letter was acknowledged; if not, the row is retried like any other.
    private func deadLetter(_ record: OutboxRecord, error: any Error, wait: Duration) async -> Bool {
        guard let deadLetters else { return false }
        let letter = DeadLetterRecord(
            reason: "outbox row \(record.id) of \(outbox.schema) could not be published to \(configuration.topicPrefix + record.topic): \(error)",
            sourceTopic: configuration.topicPrefix + record.topic,
            // Never published, so it has no partition or offset of its own: the outbox row's id stands in.
            partition: 0,
            offset: record.id,
            service: deadLetters.serviceName,
            attempts: record.attempts + 1,
            failedAt: Date(),
            originalKey: record.key.map { Array($0.readableBytesView) },
            originalValue: Array(record.value.readableBytesView),
            originalHeaders: record.headers.map { ($0.key, $0.value.map { Array($0.readableBytesView) }) }
        )
        do {
            _ = try await withDeadline(wait) { try await self.producer.sendAndAwait(deadLetters.outgoingMessage(for: letter)) }
        } catch {
            logger.warning("an undeliverable outbox row could not be dead-lettered either; it is retried", metadata: [
                "outboxID": "\(record.id)", LoggingKeys.error: "\(error)",
            ])
            return false
        }
        deadLetteredCounter.increment()
        logger.error("outbox row dead-lettered: the broker cannot accept it", metadata: [
            "outboxID": "\(record.id)", LoggingKeys.kafkaTopic: "\(configuration.topicPrefix + record.topic)",
            LoggingKeys.errorReason: "\(letter.reason)",
        ])
        return true
    }
}
