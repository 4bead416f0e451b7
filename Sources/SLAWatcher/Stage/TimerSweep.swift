import ComplaintEvents
import ComplaintPipeline
import Foundation
import HotelTime
import Logging
import Metrics
import PostgresNIO
import ServiceLifecycle

/// Fires due timers: claims them (`FOR UPDATE SKIP LOCKED`, so two replicas never fire one twice and a
/// killed replica's timers fire from the other), publishes each as its `complaints.sla.v1` event with
/// its lateness through the outbox, and marks it fired, all in one transaction. After an outage every
/// overdue timer fires at once, late, none skipped. Sleeps until the next timer is due or a handler
/// arms an earlier one (`NOTIFY`); backs off briefly while the due timers' clocks are held by another
/// transaction. It locks a clock before its timers, as the handlers do (see ``ClockStore/claimDue(limit:now:on:logger:)``).
///
/// In the service (``Configuration/input`` set) a timer due at D fires only once every partition of the
/// watcher's input topics is caught up past D + grace (``InputWatermark``): while the broker is away, a
/// partition's owner is catching up after a restart or a rebalance, or one lane is behind, due timers are
/// held (`sla_sweep_held_seconds` says for how long the oldest has waited) and fire once the actions that
/// may stop them are applied.
public struct TimerSweep: Service {
    /// What a timer waits for besides its due time: every partition of `topics` caught up past it by `grace`.
    public struct InputGate: Sendable {
        /// The input topics whose partitions count (as the consumer reads them, prefix included).
        public var topics: [String]
        public var grace: Duration

        public init(topics: [String], grace: Duration) {
            self.topics = topics
            self.grace = grace
        }
    }

    /// How many timers a round fires and how long the sweep may sleep.
    public struct Configuration: Sendable {
        /// Timers fired per transaction.
        public var batchSize = 500
        /// The longest sleep without a notification.
        public var maximumIdle: Duration = .seconds(1)
        /// The sleep after a round that fired nothing although timers are due: their clocks are held by
        /// another replica's sweep or by a handler, whose commit frees them (a handler's also `NOTIFY`s).
        public var busyBackoff: Duration = .milliseconds(50)
        /// While timers are held, how often a warning names the partitions holding them.
        public var holdReportInterval: Duration = .seconds(300)
        /// Called after each round that did not fill a batch, with how many timers it fired and how long
        /// the sweep then sleeps unless woken (for tests).
        public var afterRound: @Sendable (_ fired: Int, _ sleep: Duration) -> Void = { _, _ in }
        /// Fire only what the input is caught up past (``InputGate``); `nil` fires by the clock alone (the
        /// sweep without a pipeline of its own: tests of the sweep, `redress sla bench`).
        public var input: InputGate?
        public init() {}
    }

    let clockwork: Clockwork
    let store: StageStore
    let client: PostgresClient
    let configuration: Configuration
    let logger: Logger
    private let wakeup = Wakeup()
    /// How long the oldest due timer held for the input has been due (0: none held).
    private let held: Gauge

    public init(clockwork: Clockwork, store: StageStore, client: PostgresClient, configuration: Configuration = Configuration(), logger: Logger) {
        self.clockwork = clockwork
        self.store = store
        self.client = client
        self.configuration = configuration
        self.logger = logger
        self.held = Gauge(label: "sla_sweep_held_seconds")
    }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { await self.wakeup.follow(channel: ClockStore.notificationChannel, client: self.client, logger: self.logger) }
                await self.loop()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.wakeup.signal()
        }
        logger.info("timer sweep stopped")
    }

    private func loop() async {
        var failures = 0
        var holding = false
        var lastReport = ContinuousClock.now
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let (fired, cutoff) = try await round()
                failures = 0
                if fired == configuration.batchSize { continue }
                let (sleep, oldestHeld) = try await idle(afterFiring: fired, cutoff: cutoff)
                held.record(oldestHeld.map { max(0, clockwork.clock().timeIntervalSince($0)) } ?? 0)
                if let oldestHeld, !holding || ContinuousClock.now - lastReport >= configuration.holdReportInterval {
                    // The start at notice (a check's 2 s are normal); a hold that lasts, a warning every interval.
                    let level: Logger.Level = holding ? .warning : .notice
                    lastReport = ContinuousClock.now
                    var metadata: Logger.Metadata = [
                        "sla.oldest_held_due": "\(oldestHeld)", "sla.firing_horizon": "\(cutoff == .distantPast ? "none: a partition never caught up" : "\(cutoff)")",
                    ]
                    if let holders = try? await holdingPartitions(due: oldestHeld) { metadata["sla.holding_partitions"] = "\(holders)" }
                    logger.log(level: level, "due timers held: the input is not known to be applied past them yet (broker away, a partition catching up or its lane retrying an event)", metadata: metadata)
                } else if oldestHeld == nil, holding {
                    logger.notice("timers fire again: the input is caught up past them")
                }
                holding = oldestHeld != nil
                configuration.afterRound(fired, sleep)
                await wakeup.wait(timeout: sleep)
            } catch {
                failures += 1
                logger.warning("firing timers failed; retrying", metadata: ["error": "\(String(reflecting: error))", "attempt": "\(failures)"])
                await wakeup.wait(timeout: RetryPolicy().delay(afterAttempt: failures))
            }
        }
    }

    /// The partitions holding a timer due at `due`, each with how far behind it is: "topic/partition
    /// caught up to <time> (<n> s ago)" or "never caught up"; at most ten named.
    private func holdingPartitions(due: Date) async throws -> String {
        guard let input = configuration.input else { return "" }
        let rows = try await store.read { connection, logger in
            try await InputWatermark.watermarks(topics: input.topics, holding: due, grace: input.grace, on: connection, logger: logger)
        }
        let now = clockwork.clock()
        let named = rows.prefix(10).map { row in
            row.caughtUpTo.map { "\(row.name) caught up to \($0) (\(Int(row.age(at: now))) s ago)" } ?? "\(row.name) never caught up"
        }
        return named.joined(separator: ", ") + (rows.count > 10 ? " and \(rows.count - 10) more" : "")
    }

    /// Fires what is due now; returns how many timers fired.
    func sweep() async throws -> Int {
        try await round().fired
    }

    /// Fires what is due now and, with ``Configuration/input``, the input is caught up past; returns how
    /// many timers fired and the due time up to which they could (`distantPast`: none could).
    func round() async throws -> (fired: Int, cutoff: Date) {
        let clockwork = self.clockwork
        let batchSize = configuration.batchSize
        let input = configuration.input
        return try await store.write { connection, logger in
            let now = clockwork.clock()
            var cutoff = now
            if let input {
                let horizon = try await InputWatermark.firingHorizon(topics: input.topics, grace: input.grace, on: connection, logger: logger)
                cutoff = min(now, horizon ?? .distantPast)
            }
            guard cutoff > .distantPast else { return ((0, cutoff), []) }
            let due = try await clockwork.store.claimDue(limit: batchSize, now: cutoff, on: connection, logger: logger)
            var events: [OutgoingEvent] = []
            var records: [UUID: ClockRecord] = [:]
            // What this batch has fired: the ceiling fires level 3 with it, and a level-3 timer
            // claimed in the same batch (both overdue after an outage) must not fire it again.
            var firedHere: Set<FiredTimer> = []
            for timer in due {
                guard firedHere.insert(FiredTimer(complaintID: timer.complaintID, key: timer.key)).inserted else { continue }
                if records[timer.complaintID] == nil {
                    records[timer.complaintID] = try await clockwork.store.clock(timer.complaintID, on: connection, logger: logger)
                }
                if timer.key.timer == .ceiling, let record = records[timer.complaintID],
                    try await Self.ceilingNotReached(timer, record: record, clockwork: clockwork, now: now, on: connection, logger: logger)
                {
                    continue
                }
                try await clockwork.store.markFired(timer.key, of: timer.complaintID, due: timer.dueAt, at: now, on: connection, logger: logger)
                guard let record = records[timer.complaintID] else { continue }
                events += try await fire(timer, record: record, now: now, firedHere: &firedHere, on: connection, logger: logger)
            }
            return ((due.count, cutoff), events)
        }
    }

    private func fire(
        _ timer: ClockStore.DueTimer, record: ClockRecord, now: Date, firedHere: inout Set<FiredTimer>, on connection: PostgresConnection,
        logger: Logger
    ) async throws -> [OutgoingEvent] {
        let lateness = now.timeIntervalSince(timer.dueAt)
        let current = clockwork.clocks(of: record)
        let acknowledgeDue = current.flatMap { $0.clocks.acknowledgeDue($0.arithmetic) } ?? timer.dueAt
        let resolveDue = current.flatMap { $0.clocks.resolveDue($0.arithmetic) } ?? timer.dueAt
        func event(_ milestone: ComplaintSLAEvent.Milestone, _ target: SLATarget, _ deadline: Date) throws -> OutgoingEvent {
            try clockwork.event(milestone, target: target, deadline: deadline, of: record, occurredAt: now, lateness: lateness)
        }
        switch timer.key.timer {
        case .acknowledgeWarning: return [try event(.warning, .acknowledge, acknowledgeDue)]
        case .acknowledgeBreach: return [try event(.breached, .acknowledge, timer.dueAt)]
        case .resolveWarning: return [try event(.warning, .resolve, resolveDue)]
        case .resolveBreach: return [try event(.breached, .resolve, timer.dueAt)]
        case .followUp: return [try event(.followUpDue, .followup, timer.dueAt)]
        case .escalation(let level):
            let step = current?.clocks.policy.escalation.first { $0.level == level } ?? EscalationStep(level: level, when: .resolveBreached)
            let target: SLATarget = step.when == .responseBreached ? .acknowledge : .resolve
            return [try event(.escalated(Escalation(level: level, escalateTo: step.to)), target, timer.dueAt.addingTimeInterval(-step.after.timeInterval))]
        case .ceiling:
            var events = [try event(.ceilingReached, .ceiling, timer.dueAt)]
            // Level 3, the general manager, whatever the policy — once.
            let top = TimerKey(.escalation(level: 3))
            if firedHere.insert(FiredTimer(complaintID: record.complaintID, key: top)).inserted,
                try await !clockwork.store.hasFired(top, of: record.complaintID, on: connection, logger: logger)
            {
                try await clockwork.store.markFired(top, of: record.complaintID, due: timer.dueAt, at: now, on: connection, logger: logger)
                events.append(try event(.escalated(Escalation(level: 3, escalateTo: .generalManager)), .ceiling, timer.dueAt))
            }
            return events
        }
    }

    /// Whether a due ceiling timer is early: the clock (registration + ceiling + the time resolved, under
    /// the policy in force) has not been open for the ceiling by now, or by its resolution or closing.
    /// Then it is moved to when it will have been (an open clock) or removed (one resolved or closed before
    /// it got there: its next reopening arms it again), and not fired. A replica older than migration 0005
    /// re-arms a reopened complaint's ceiling at registration + ceiling, in the past, whenever it re-arms
    /// its timers during a rolling upgrade; firing that would escalate to the general manager at once.
    static func ceilingNotReached(
        _ timer: ClockStore.DueTimer, record: ClockRecord, clockwork: Clockwork, now: Date, on connection: PostgresConnection, logger: Logger
    ) async throws -> Bool {
        guard let clocks = clockwork.clocks(of: record)?.clocks else { return false }
        let reachedBy = min(now, clocks.resolvedAt ?? now)
        let due = clocks.ceilingDue
        // Closer than a millisecond: the same instant, as stored (microseconds) and computed.
        guard due.timeIntervalSince(reachedBy) >= 0.001 else { return false }
        let open = clocks.resolvedAt == nil
        try await clockwork.store.move(timer.key, of: record.complaintID, to: open ? due : nil, on: connection, logger: logger)
        logger.notice(
            open
                ? "ceiling armed before the complaint was open that long (by a replica older than migration 0005?): moved, not fired"
                : "ceiling armed before the complaint was open that long (by a replica older than migration 0005?): removed, it was resolved first",
            metadata: [
                LoggingKeys.complaintID: "\(record.complaintID.lowercasedString)", "sla.armed_due": "\(timer.dueAt)", "sla.ceiling_due": "\(due)",
                "sla.time_resolved_seconds": "\(clocks.timeResolved)",
            ])
        return true
    }

    /// One complaint's timer, as fired in one sweep transaction.
    struct FiredTimer: Hashable {
        var complaintID: UUID
        var key: TimerKey
    }

    /// Until the next timer is due, at most ``Configuration/maximumIdle``. A timer already due that the
    /// round did not fire is held by another transaction: after a round that fired nothing, the sweep
    /// backs off (``Configuration/busyBackoff``) instead of asking again every millisecond until it commits.
    /// A timer due but past `cutoff` waits for the input (returned as held): the sweep sleeps the longest,
    /// woken when a partition's watermark moves.
    private func idle(afterFiring fired: Int, cutoff: Date) async throws -> (sleep: Duration, oldestHeld: Date?) {
        let next = try await store.read { connection, logger in try await clockwork.store.nextDue(on: connection, logger: logger) }
        guard let next else { return (configuration.maximumIdle, nil) }
        let now = clockwork.clock()
        if next <= now, next > cutoff { return (configuration.maximumIdle, next) }
        return (sleep(until: next, now: now, afterFiring: fired), nil)
    }

    private func sleep(until next: Date, now: Date, afterFiring fired: Int) -> Duration {
        let seconds = next.timeIntervalSince(now)
        if seconds <= 0 { return fired == 0 ? min(configuration.busyBackoff, configuration.maximumIdle) : .milliseconds(1) }
        return min(configuration.maximumIdle, .milliseconds(Int64(seconds * 1000) + 1))
    }
}
