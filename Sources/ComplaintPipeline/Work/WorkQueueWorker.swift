import ComplaintStore
import Foundation
import Logging
import Metrics
import PostgresNIO
import ServiceLifecycle
import NIOConcurrencyHelpers

/// Performs a service's recorded intents: claims due ones from its ``ComplaintStore/WorkQueue``, makes the
/// calls outside any transaction, and settles each (succeeded, retry later, failed) with the
/// performer's own record and receipts in one transaction.
///
/// Guarantees: an intent whose call was never made is made once; a worker that dies after the call and
/// before settling leaves a lease that runs out after ``Configuration/lease``, and the call is repeated
/// with the same idempotency key; transient failures are retried with exponential backoff and full
/// jitter (or after the receiver's `Retry-After`) until ``ComplaintStore/WorkItem/maximumAttempts``,
/// then the intent is marked failed with the reason. A performer's ``WorkDeferral`` ("not now") reschedules
/// the intent without counting the attempt. Several workers (replicas) share the queue through
/// `FOR UPDATE SKIP LOCKED` and leases.
///
/// It wakes at once on the `NOTIFY` of a committed intent, when the next retry falls due, and every
/// ``Configuration/pollInterval``. On graceful shutdown it finishes the calls in hand and settles them.
public final class WorkQueueWorker: Service {
    /// How many calls run at once, how long a claim lasts, how often the queue is polled and how a failing call backs off.
    public struct Configuration: Sendable {
        /// Calls in flight at once: a slot a call frees is filled at once, whatever the others do.
        public var concurrency = 8
        /// How long a claimed intent stays reserved; longer than any call may take.
        public var lease: Duration = .seconds(300)
        /// How often to look for due intents without a notification.
        public var pollInterval: Duration = .seconds(1)
        /// The client's connections start with the schema on their `search_path` (the runtime's pool).
        public var connectionsUseSchema = false
        /// The longest one of its database transactions or look-ups may hold its connection before the
        /// connection is closed, failing the work (retried) instead of waiting ~15 min for the kernel when the
        /// host vanished with a statement in flight (``ServiceSettings/statementBound``). Pipeline work has no
        /// server-side `statement_timeout`: this is the longest a single transaction may take.
        public var statementBound: Duration = PostgresClient.defaultStatementBound
        /// What a call to the outside world must leave of the lease besides its own bound, to record its
        /// outcome before the lease ends (``WorkLease``): a call that would end later is not made, and the
        /// intent is deferred by ``leaseDeferral`` without using an attempt.
        public var leaseMargin: Duration = .seconds(10)
        /// How long an intent waits after a call was not made for its lease running out.
        public var leaseDeferral: Duration = .seconds(1)
        /// How many times in a row this worker may find an intent's call refused for its lease without an
        /// attempt used: each refusal after them uses one (retried with backoff, given up after the last), with
        /// a warning naming the intent. Steps before the call that always take longer than the lease leaves
        /// (a slow database) otherwise deferred it every ``leaseDeferral`` for ever, an e-mail or a webhook
        /// that nothing else ends.
        public var leaseRefusalsBeforeAttempt = 5
        /// Backoff between attempts at a failing call.
        public var retry: RetryPolicy = {
            var policy = RetryPolicy()
            policy.initialDelay = .seconds(1)
            policy.maximumDelay = .seconds(600)
            return policy
        }()
        public init() {}
    }

    /// Test hooks that simulate the worker's process dying around the call.
    public struct CrashPoints: Sendable {
        /// Called after the claim, before the call.
        public var beforePerform: @Sendable (WorkItem) throws -> Void = { _ in }
        /// Called after the call, before its outcome is recorded.
        public var afterPerform: @Sendable (WorkItem) throws -> Void = { _ in }
        public init() {}
    }

    private let queue: WorkQueue
    private let performer: any WorkPerformer
    private let client: PostgresClient
    private let outbox: Outbox
    private let configuration: Configuration
    private let crashPoints: CrashPoints
    private let logger: Logger
    private let wakeup = Wakeup()
    private let rounds: RoundReporter?
    /// The intents whose calls this worker found refused for their lease, with how many times in a row and
    /// when last (``Configuration/leaseRefusalsBeforeAttempt``). In memory: with several replicas each counts
    /// its own, so the streak ends at the latest after that many refusals per replica.
    private let leaseRefusals = NIOLockedValueBox<[Int64: (count: Int, last: ContinuousClock.Instant)]>([:])
    /// A refusal longer ago than this starts a new streak (the intent was settled elsewhere, or is back after a backoff's wait).
    static let leaseRefusalMemory: Duration = .seconds(3600)

    /// - Parameter rounds: Learns whether each claim worked (readiness's stall check).
    public init(
        performer: any WorkPerformer, schema: SchemaName, client: PostgresClient, configuration: Configuration = Configuration(),
        crashPoints: CrashPoints = CrashPoints(), rounds: RoundReporter? = nil, logger: Logger
    ) {
        self.rounds = rounds
        precondition(!performer.kinds.isEmpty, "a performer handles at least one kind")
        self.queue = WorkQueue(schema: schema)
        self.outbox = Outbox(schema: schema)
        self.performer = performer
        self.client = client
        self.configuration = configuration
        self.crashPoints = crashPoints
        var logger = logger
        logger[metadataKey: LoggingKeys.workKind] = "\(performer.kinds.joined(separator: ","))"
        self.logger = logger
    }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask {
                    await self.wakeup.follow(channel: self.queue.notificationChannel, client: self.client, logger: self.logger)
                }
                try await self.workLoop()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.wakeup.signal()
        }
        logger.info("work queue worker stopped")
    }

    /// Keeps up to ``Configuration/concurrency`` calls in flight: claims as many due intents as there
    /// are free slots whenever a call finishes, a notification arrives or the idle wait ends, so one
    /// slow call holds only its own slot (batches waited for their slowest call).
    private func workLoop() async throws {
        let finished = NIOLockedValueBox(0)
        try await withThrowingTaskGroup(of: Void.self) { group in
            var inFlight = 0
            var failures = 0
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                // Reap the calls that ended (a crash point's error surfaces here).
                let ended = finished.withLockedValue { count in defer { count = 0 }; return count }
                for _ in 0..<ended { try await group.next() }
                inFlight -= ended
                let free = configuration.concurrency - inFlight
                guard free > 0 else {
                    // Every slot busy: a call that ends signals the wakeup.
                    await wakeup.wait(timeout: configuration.pollInterval)
                    continue
                }
                let items: [WorkItem]
                // Before the claim is sent: the lease's end on this clock is then never later than the
                // database's `leased_until`.
                let claimed = ContinuousClock.now
                do {
                    items = try await client.withConnection(closingAfter: configuration.statementBound, logger: logger) { connection in
                        try await self.queue.claim(
                            kinds: self.performer.kinds, limit: free, lease: self.configuration.lease,
                            on: connection, logger: self.logger)
                    }
                    failures = 0
                    rounds?.succeeded()
                } catch {
                    rounds?.failed("claiming work: \(error)")
                    failures += 1
                    logger.warning("claiming work failed; retrying", metadata: [
                        LoggingKeys.error: "\(String(reflecting: error))", LoggingKeys.attempt: "\(failures)",
                    ])
                    guard await PipelineSleep.sleep(RetryPolicy().delay(afterAttempt: failures)) else { break }
                    continue
                }
                for item in items {
                    inFlight += 1
                    group.addTask {
                        defer {
                            finished.withLockedValue { $0 += 1 }
                            self.wakeup.signal()
                        }
                        try await self.process(item, leaseDeadline: claimed + self.configuration.lease)
                    }
                }
                // As many as there was room for: more may be due at once.
                if items.count == free { continue }
                await wakeup.wait(timeout: try await idleWait())
            }
            try await group.waitForAll()
        }
    }

    /// Until the next retry falls due on the database's clock, at most ``Configuration/pollInterval`` and
    /// at least ``minimumIdleWait``.
    private func idleWait() async throws -> Duration {
        let next = try? await client.withConnection(closingAfter: configuration.statementBound, logger: logger) { connection in
            try await self.queue.timeUntilNextDue(kinds: self.performer.kinds, on: connection, logger: self.logger)
        }
        guard let wait = next ?? nil else { return configuration.pollInterval }
        return min(configuration.pollInterval, max(Self.minimumIdleWait, wait))
    }

    /// The shortest idle wait: an intent due now that the claim passed over (another worker holds its
    /// row for the moment) is looked at again after this, not in a loop of claims.
    static let minimumIdleWait: Duration = .milliseconds(20)

    func process(_ item: WorkItem, leaseDeadline: ContinuousClock.Instant) async throws {
        var logger = self.logger
        logger[metadataKey: LoggingKeys.workID] = "\(item.id)"
        logger[metadataKey: LoggingKeys.attempt] = "\(item.attempt)"
        try crashPoints.beforePerform(item)
        let result: WorkResult
        // Whether a deferral's time is this process's now plus a wait (the wait left then counts on the database's clock).
        var deferredFromNow = false
        if item.attempt > item.maximumAttempts {
            // Its last attempt's lease ran out unsettled: the worker stopped during it (a crash, a kill,
            // a call that takes the process down). Not called again, or a call that crashes would
            // crash every replica in turn for ever.
            result = .failed(reason: "gave up after \(item.maximumAttempts) attempts: the last one's outcome is unknown (its worker stopped during it)")
            try await settle(item, result: result.storable, logger: logger)
            return
        }
        // The performer's calls ask the lease before going out (``WorkLease/beforeCall(taking:after:_:)``).
        let lease = WorkLease(deadline: leaseDeadline, margin: configuration.leaseMargin, duration: configuration.lease)
        do {
            let outcome = try await WorkLease.$current.withValue(lease) {
                try await performer.perform(item, logger: logger)
            }
            result = .succeeded(outcome)
        } catch where lease.refused != nil {
            // A call was not made for the lease running out (the performer may have wrapped the refusal):
            // not an attempt; claimed again on a fresh lease. Another worker may own the item already, and
            // then this deferral is not recorded (see `settleOnce`).
            let refused = lease.refused ?? ""
            let inARow = noteLeaseRefusal(item)
            if inARow > configuration.leaseRefusalsBeforeAttempt {
                // Refused on fresh leases again and again: what comes before the call takes longer than the
                // lease leaves. Each further refusal uses an attempt, so the intent ends.
                let reason = "\(refused) (refused \(inARow) times in a row: counted as an attempt)"
                logger.warning("work call refused for its lease again and again; counted as an attempt", metadata: [
                    LoggingKeys.errorReason: "\(refused)", "work.lease_refusals": "\(inARow)",
                ])
                if item.isLastAttempt {
                    result = .failed(reason: "gave up after \(item.attempt) attempts: \(reason)")
                } else {
                    let delay = configuration.retry.delay(afterAttempt: item.attempt)
                    result = .willRetry(reason: reason, at: Date().addingTimeInterval(Double(delay.milliseconds) / 1000))
                }
            } else {
                result = .deferred(reason: refused, until: Date().addingTimeInterval(Double(configuration.leaseDeferral.milliseconds) / 1000))
                deferredFromNow = true
            }
        } catch let failure as WorkFailure where failure.isPermanent {
            result = .failed(reason: failure.reason)
        } catch let deferral as WorkDeferral {
            // Not a failure, not an attempt: even on the last one, it waits rather than being given up.
            result = .deferred(reason: deferral.reason, until: deferral.until)
            deferredFromNow = deferral.countsFromNow
        } catch {
            let failure = error as? WorkFailure
            let reason = failure?.reason ?? "\(error)"
            if item.isLastAttempt {
                result = .failed(reason: "gave up after \(item.attempt) attempts: \(reason)")
            } else {
                let delay = failure?.retryAfter ?? configuration.retry.delay(afterAttempt: item.attempt)
                result = .willRetry(reason: reason, at: Date().addingTimeInterval(Double(delay.milliseconds) / 1000))
            }
        }
        if lease.refused == nil {
            // Any other outcome ends a streak of refusals.
            leaseRefusals.withLockedValue { $0[item.id] = nil }
        }
        try crashPoints.afterPerform(item)
        try await settle(item, result: result.storable, deferredFromNow: deferredFromNow, logger: logger)
    }

    /// Counts a refusal of `item`'s call for its lease (`work_lease_running_out_total{schema,kind}`) and
    /// returns how many in a row this worker has seen, this one included.
    private func noteLeaseRefusal(_ item: WorkItem) -> Int {
        Counter(label: "work_lease_running_out_total", dimensions: [("schema", "\(queue.schema)"), ("kind", item.kind)]).increment()
        let now = ContinuousClock.now
        return leaseRefusals.withLockedValue { refusals in
            refusals = refusals.filter { now - $0.value.last < Self.leaseRefusalMemory }
            let count = (refusals[item.id]?.count ?? 0) + 1
            refusals[item.id] = (count, now)
            return count
        }
    }

    /// Records `result`, retrying while the database is away (the call is not repeated for that).
    ///
    /// If the stage's own record of it (``WorkPerformer/record(_:result:context:)``: its table, its
    /// receipt) fails for a reason that is not transient, attempt after attempt, the outcome is settled
    /// in the work queue alone, with that reason beside it: retrying for ever would hold this worker's
    /// whole batch, and every intent after it, behind one record that can never be written, and giving
    /// the intent back would repeat a call that was made.
    private func settle(_ item: WorkItem, result: WorkResult, deferredFromNow: Bool = false, logger: Logger) async throws {
        var attempt = 1
        var settling = result
        var recordsEffects = true
        while true {
            do {
                try await settleOnce(item, result: settling, deferredFromNow: deferredFromNow, recordingEffects: recordsEffects, logger: logger)
                return
            } catch {
                if recordsEffects && FailureKind.of(error) != .transient && attempt >= configuration.retry.maximumAttemptsForUnknownErrors {
                    logger.error("the stage could not record a work outcome; settling it in the work queue alone", metadata: [
                        LoggingKeys.error: "\(String(reflecting: error))", LoggingKeys.attempt: "\(attempt)",
                    ])
                    recordsEffects = false
                    settling = result.noting("the stage could not record this outcome: \(Self.describe(error))").storable
                    attempt = 1
                    continue
                }
                logger.warning("recording a work outcome failed; retrying", metadata: [
                    LoggingKeys.error: "\(String(reflecting: error))", LoggingKeys.attempt: "\(attempt)",
                ])
                // Give up only at shutdown: the lease then runs out and the call is repeated with its key
                // (or, after its last attempt, given up as of unknown outcome: see `process`).
                guard await PipelineSleep.sleep(configuration.retry.delay(afterAttempt: attempt)) else { return }
                attempt += 1
            }
        }
    }

    /// An error as stored with the intent: a server error by its SQLSTATE and message (never its
    /// detail, which may quote a row's values), anything else as it describes itself.
    static func describe(_ error: any Error) -> String {
        if let psql = error as? PSQLError, let state = psql.serverInfo?[.sqlState] {
            return "SQLSTATE \(state): \(psql.serverInfo?[.message] ?? "")"
        }
        if let transaction = error as? PostgresTransactionError,
           let inner = [transaction.closureError, transaction.beginError, transaction.commitError].lazy.compactMap({ $0 }).first {
            return describe(inner)
        }
        return "\(error)"
    }

    /// The time left until a date of this process's clock: the wait the database's clock counts.
    private static func waitLeft(until date: Date) -> Duration {
        .milliseconds(Int64((date.timeIntervalSinceNow * 1000).rounded(.up)))
    }

    private func settleOnce(_ item: WorkItem, result: WorkResult, deferredFromNow: Bool, recordingEffects: Bool, logger: Logger) async throws {
        let queue = self.queue
        let outbox = self.outbox
        let performer = self.performer
        try await client.transaction(
            schema: configuration.connectionsUseSchema ? nil : queue.schema, closingAfter: configuration.statementBound, logger: logger
        ) { connection in
            let settled: Bool
            switch result {
            case .succeeded(let outcome):
                settled = try await queue.complete(item, outcome: outcome, on: connection, logger: logger)
            case .willRetry(let reason, let date):
                // The date is this process's now plus the backoff (see `process`): the backoff left counts on the database's clock.
                settled = try await queue.retry(item, error: reason, after: Self.waitLeft(until: date), on: connection, logger: logger)
            case .failed(let reason):
                settled = try await queue.fail(item, error: reason, on: connection, logger: logger)
            case .deferred(let reason, let date) where deferredFromNow:
                settled = try await queue.postpone(item, reason: reason, for: Self.waitLeft(until: date), on: connection, logger: logger)
            case .deferred(let reason, let date):
                settled = try await queue.postpone(item, reason: reason, until: date, on: connection, logger: logger)
            }
            guard settled else {
                // The lease ran out and another worker owns the intent now; its outcome counts.
                logger.warning("work lease lost before the outcome was recorded; leaving it to the current owner")
                return
            }
            guard recordingEffects else { return }
            let outgoing = try await performer.record(item, result: result, context: WorkContext(logger: logger, connection: connection))
            try await outbox.enqueue(outgoing.map(\.row), on: connection, logger: logger)
        }
        let outcome: String
        switch result {
        case .succeeded: outcome = "succeeded"
        case .willRetry(let reason, _):
            outcome = "retry"
            logger.info("work attempt failed; will retry", metadata: [LoggingKeys.errorReason: "\(reason)"])
        case .failed(let reason):
            outcome = "failed"
            logger.warning("work given up", metadata: [LoggingKeys.errorReason: "\(reason)"])
        case .deferred(let reason, let date):
            outcome = "deferred"
            logger.debug("work deferred", metadata: [LoggingKeys.errorReason: "\(reason)", "work.until": "\(date)"])
        }
        Counter(label: "work_attempts_total", dimensions: [("schema", "\(queue.schema)"), ("kind", item.kind), ("outcome", outcome)]).increment()
    }
}
