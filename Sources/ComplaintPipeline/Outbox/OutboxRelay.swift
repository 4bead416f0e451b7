import ComplaintStore
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
        /// slow but live round is never overtaken by another relay.
        public var lease: Duration = .seconds(60)
        /// Backoff after a failed round (database or broker down).
        public var retry = RetryPolicy()
        /// Put before every row's topic when it is published (``ServiceSettings/topicPrefix``).
        public var topicPrefix = ""
        public init() {}

        /// The producer's `message.timeout.ms` for this relay: below ``publishTimeout``, so librdkafka
        /// gives up on a message before the relay stops waiting for it. Otherwise the message stays
        /// queued inside librdkafka while the relay's next round produces the row again: a broker outage
        /// of minutes left several copies of every pending event on the topic.
        public var producerMessageTimeout: Duration { publishTimeout * 4 / 5 }
    }

    private let outbox: Outbox
    private let client: PostgresClient
    private let producer: KafkaProducer
    private let configuration: Configuration
    private let logger: Logger
    private let wakeup = Wakeup()
    private let publishedCounter: Counter

    public init(outbox: Outbox, client: PostgresClient, producer: KafkaProducer, configuration: Configuration = Configuration(), logger: Logger) {
        precondition(configuration.lease > configuration.publishTimeout, "the lease must outlast a publish")
        self.outbox = outbox
        self.client = client
        self.producer = producer
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "outbox"] = "\(outbox.schema)"
        self.logger = logger
        self.publishedCounter = Counter(label: "outbox_messages_published_total", dimensions: [("schema", "\(outbox.schema)")])
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
                    failures += 1
                    guard await PipelineSleep.sleep(configuration.retry.delay(afterAttempt: failures)) else { return }
                    continue
                }
                failures = 0
                // A full batch means more is waiting: go again at once.
                if claimed == configuration.batchSize { continue }
            } catch {
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
        let claim = try await client.withConnection { connection in
            try await outbox.claim(limit: configuration.batchSize, lease: configuration.lease, on: connection, logger: logger)
        }
        guard !claim.records.isEmpty else { return (0, 0) }
        // A claim holds at most one row per complaint, so publishing them concurrently keeps every
        // complaint's order.
        let outcomes = await withTaskGroup(of: (Int64, String?).self) { group in
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
                        return (record.id, nil)
                    } catch {
                        return (record.id, "\(error)")
                    }
                }
            }
            var outcomes: [(Int64, String?)] = []
            for await outcome in group { outcomes.append(outcome) }
            return outcomes
        }
        let sent = outcomes.filter { $0.1 == nil }.map(\.0)
        try await client.withConnection { connection in
            try await outbox.markSent(ids: sent, on: connection, logger: logger)
            for case let (id, error?) in outcomes {
                try await outbox.release(id: id, error: error, claim: claim, on: connection, logger: logger)
            }
        }
        if !sent.isEmpty { publishedCounter.increment(by: sent.count) }
        if sent.count < claim.records.count {
            logger.info("some outbox rows could not be published; they stay unsent", metadata: [
                "claimed": "\(claim.records.count)", "published": "\(sent.count)",
            ])
        }
        return (claim.records.count, sent.count)
    }
}
