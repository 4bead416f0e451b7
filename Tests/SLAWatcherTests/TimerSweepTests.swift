import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import HotelTime
import Logging
import PostgresNIO
@testable import SLAWatcher
import ServiceLifecycle
import Synchronization
import Testing

/// The sweep against a real database: replicas, outages, lateness.
@Suite("Timer sweep", .timeLimit(.minutes(2)))
struct TimerSweepTests {
    static func withSchema(_ body: @Sendable (StageStore, PostgresClient) async throws -> Void) async throws {
        try await withMigratedSchema(of: RedressService.slaWatcher.isolated(), body)
    }

    /// `count` complaints registered `ago` with 1-minute / 2-minute targets: after an outage, all overdue.
    static func seed(_ count: Int, registeredAgo ago: TimeInterval, clockwork: Clockwork, store: StageStore) async throws {
        try await store.write { connection, logger in
            for _ in 0..<count {
                var record = ClockRecord(complaintID: UUID(), hotelID: "SHA-PD01")
                record.department = "housekeeping"
                record.category = .cleanliness
                record.severity = .moderate
                record.registeredAt = Date().addingTimeInterval(-ago)
                record.resolveStartedAt = record.registeredAt
                try await clockwork.store.save(record, on: connection, logger: logger)
                try await clockwork.store.arm(clockwork.desiredTimers(of: record), for: record.complaintID, now: Date(), on: connection, logger: logger)
            }
            return ((), [])
        }
    }

    static let policies = SLAPolicies(rules: [PolicyRule(
        name: "fast", response: .minutes(1), resolve: .minutes(2), warning: .percent(50),
        escalation: [EscalationStep(level: 1, when: .responseBreached)], ceiling: .hours(1))])

    @Test("two replicas sweeping one database after an outage fire every overdue timer exactly once, late, none skipped")
    func replicas() async throws {
        try await Self.withSchema { store, client in
            let clockwork = Clockwork(policies: Self.policies)
            // 150 complaints, three minutes old: acknowledge warning and breach, escalation 1, resolve warning and breach are overdue.
            try await Self.seed(150, registeredAgo: 180, clockwork: clockwork, store: store)
            var configuration = TimerSweep.Configuration()
            configuration.batchSize = 40
            let sweeps = (0..<2).map { _ in TimerSweep(clockwork: clockwork, store: store, client: client, configuration: configuration, logger: .complaintTest) }
            let fired = try await withThrowingTaskGroup(of: Int.self) { group in
                for sweep in sweeps {
                    group.addTask {
                        var total = 0
                        while true {
                            let count = try await sweep.sweep()
                            total += count
                            if count == 0 { return total }
                        }
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(fired == 150 * 5)
            // One event per complaint and step: none fired twice by the two replicas.
            let values = try await store.read { connection, logger in
                try await connection.query("SELECT convert_from(value, 'UTF8') FROM outbox", logger: logger).collect().map { try $0.decode(String.self) }
            }
            let steps = try values.map { value -> String in
                let event = try Topics.sla.decode(Array(value.utf8)).data
                return "\(event.complaintID) \(event.kind.rawValue) \(event.target.rawValue)"
            }
            #expect(steps.count == 150 * 5)
            #expect(Set(steps).count == steps.count)
            let unfiredOverdue = try await store.read { connection, logger in
                try await connection.query("SELECT count(*)::int FROM timers WHERE fired_at IS NULL AND due_at <= now()", logger: logger)
                    .collect()[0].decode(Int.self)
            }
            #expect(unfiredOverdue == 0)
            // Nothing fires twice.
            #expect(try await sweeps[0].sweep() == 0)
        }
    }

    @Test("the ceiling and a later level-3 escalation overdue in one batch: the general manager is escalated to once")
    func ceilingBeforeLevelThree() async throws {
        try await Self.withSchema { store, client in
            // Level 3 two hours after the resolve breach, the ceiling at one hour: three hours later both are overdue, the ceiling first.
            let clockwork = Clockwork(policies: SLAPolicies(rules: [PolicyRule(
                name: "late-gm", response: .minutes(1), resolve: .minutes(2), warning: .percent(50),
                escalation: [EscalationStep(level: 3, when: .resolveBreached, after: .hours(2))], ceiling: .hours(1))]))
            try await Self.seed(1, registeredAgo: 3 * 3600, clockwork: clockwork, store: store)
            let sweep = TimerSweep(clockwork: clockwork, store: store, client: client, logger: .complaintTest)
            _ = try await sweep.sweep()
            #expect(try await sweep.sweep() == 0)
            let values = try await store.read { connection, logger in
                try await connection.query("SELECT convert_from(value, 'UTF8') FROM outbox ORDER BY id", logger: logger).collect()
                    .map { try $0.decode(String.self) }
            }
            let events = try values.map { try Topics.sla.decode(Array($0.utf8)).data }
            let escalations = events.compactMap { event -> Int? in
                if case .escalated(let escalation) = event.milestone { return escalation.level }
                return nil
            }
            #expect(escalations == [3], "\(events.map(\.milestone))")
            #expect(events.filter { $0.kind == .ceilingReached }.count == 1)
        }
    }

    @Test("a reopened complaint's ceiling re-armed at registration + ceiling (a replica older than migration 0005, in a rolling upgrade) is not fired: moved to its time, or removed once resolved")
    func ceilingArmedByAnOldReplica() async throws {
        try await Self.withSchema { store, client in
            let clockwork = Clockwork(policies: Self.policies)
            let now = Date(), minute: TimeInterval = 60
            // Registered 3 h ago, resolved after 10 min, reopened 10 min ago: open 20 min of the 1 h ceiling, due in 40 min.
            func reopened(resolvedAgain: Date? = nil) async throws -> ClockRecord {
                var record = ClockRecord(complaintID: UUID(), hotelID: "SHA-PD01")
                record.department = "housekeeping"
                record.category = .cleanliness
                record.severity = .moderate
                let registered = now.addingTimeInterval(-180 * minute)
                record.registeredAt = registered
                record.resolveStartedAt = registered
                record.acknowledgedAt = registered.addingTimeInterval(minute)
                record.resolvedAt = registered.addingTimeInterval(10 * minute)
                record.reopen(at: now.addingTimeInterval(-10 * minute))
                let reopenedRecord = record
                record.resolvedAt = resolvedAgain
                let resolvedRecord = record
                try await store.write { connection, logger in
                    try await clockwork.store.save(reopenedRecord, on: connection, logger: logger)
                    try await clockwork.store.arm(
                        clockwork.desiredTimers(of: reopenedRecord), for: reopenedRecord.complaintID, now: now.addingTimeInterval(-10 * minute), on: connection,
                        logger: logger)
                    // The old replica re-arms the ceiling by the old rule, registration + 1 h.
                    try await connection.query(
                        "UPDATE timers SET due_at = \(registered.addingTimeInterval(60 * minute)) WHERE complaint_id = \(reopenedRecord.complaintID) AND timer = 'ceiling'",
                        logger: logger)
                    if let resolvedAgain {
                        try await clockwork.store.save(resolvedRecord, on: connection, logger: logger)
                        try await clockwork.store.arm(
                            clockwork.desiredTimers(of: resolvedRecord), for: resolvedRecord.complaintID, now: resolvedAgain, on: connection, logger: logger)
                    }
                    return ((), [])
                }
                return record
            }
            let open = try await reopened()
            let resolved = try await reopened(resolvedAgain: now.addingTimeInterval(-2 * minute))
            #expect(open.timeResolved == 160 * minute)
            // A clock never reopened, registered 2 h ago: its ceiling is due and fires as always.
            try await Self.seed(1, registeredAgo: 120 * minute, clockwork: clockwork, store: store)
            let sweep = TimerSweep(clockwork: clockwork, store: store, client: client, logger: .complaintTest)
            while try await sweep.sweep() > 0 {}
            let events = try await Self.published(store)
            let ceilings = events.filter { $0.kind == .ceilingReached }.map(\.complaintID)
            #expect(!ceilings.contains(open.complaintID) && !ceilings.contains(resolved.complaintID), "\(events.map(\.kind))")
            #expect(ceilings.count == 1)
            let gm = events.filter { if case .escalated(let escalation) = $0.milestone { escalation.level == 3 } else { false } }
            #expect(gm.map(\.complaintID) == ceilings)
            let rows = try await store.read { connection, logger in
                try await connection.query(
                    "SELECT complaint_id, due_at, fired_at IS NOT NULL FROM timers WHERE timer = 'ceiling' AND complaint_id = ANY(\([open.complaintID, resolved.complaintID]))",
                    logger: logger
                ).collect().map { try $0.decode((UUID, Date, Bool).self) }
            }
            // The open one's ceiling at registration + 1 h + the 160 min resolved; the resolved one's gone (a reopening arms it again).
            #expect(rows.count == 1)
            let row = try #require(rows.first)
            #expect(row.0 == open.complaintID && !row.2)
            #expect(abs(row.1.timeIntervalSince(now) - 40 * minute) < 0.01)
        }
    }

    @Test("a fired timer records how late it fired")
    func lateness() async throws {
        try await Self.withSchema { store, client in
            let clockwork = Clockwork(policies: Self.policies)
            try await Self.seed(1, registeredAgo: 70, clockwork: clockwork, store: store)
            let sweep = TimerSweep(clockwork: clockwork, store: store, client: client, logger: .complaintTest)
            // Acknowledge warning (30 s), breach and escalation 1 (60 s), resolve warning (60 s).
            #expect(try await sweep.sweep() == 4)
            let values = try await store.read { connection, logger in
                try await connection.query("SELECT convert_from(value, 'UTF8') FROM outbox ORDER BY id", logger: logger).collect()
                    .map { try $0.decode(String.self) }
            }
            let events = try values.map { try Topics.sla.decode(Array($0.utf8)) }
            let warning = try #require(events.first { $0.data.kind == .warning && $0.data.target == .acknowledge })
            // Due 40 s before the sweep (30 s after registration, 70 s ago).
            #expect(abs(Double(warning.data.latenessMilliseconds ?? 0) - 40_000) < 2_000)
            #expect(Set(events.map(\.data.kind)) == [.warning, .breached, .escalated])
        }
    }

    /// The clocks of the schema (seeded ones).
    static func complaintIDs(_ store: StageStore) async throws -> [UUID] {
        try await store.read { connection, logger in
            try await connection.query("SELECT complaint_id FROM clocks", logger: logger).collect().map { try $0.decode(UUID.self) }
        }
    }

    /// The clock events in the outbox, in the order they are published.
    static func published(_ store: StageStore) async throws -> [ComplaintSLAEvent] {
        let values = try await store.read { connection, logger in
            try await connection.query("SELECT convert_from(value, 'UTF8') FROM outbox ORDER BY id", logger: logger).collect()
                .map { try $0.decode(String.self) }
        }
        return try values.map { try Topics.sla.decode(Array($0.utf8)).data }
    }

    @Test("a handler holding a clock while the sweep runs: the sweep passes the clock by instead of deadlocking with the handler")
    func handlerHoldingClock() async throws {
        try await Self.withSchema { store, client in
            let clockwork = Clockwork(policies: Self.policies)
            // Acknowledge warning, breach, escalation 1 and resolve warning overdue.
            try await Self.seed(1, registeredAgo: 70, clockwork: clockwork, store: store)
            let id = try #require(try await Self.complaintIDs(store).first)
            let sweep = TimerSweep(clockwork: clockwork, store: store, client: client, logger: .complaintTest)
            let (locked, lockedNow) = AsyncStream<Int32>.makeStream()
            let (release, releaseNow) = AsyncStream<Void>.makeStream()
            try await withThrowingTaskGroup(of: Int?.self) { tasks in
                // A handler's transaction: the clock first (as every handler takes it), then, once released, its timers re-armed.
                tasks.addTask {
                    try await store.write { connection, logger in
                        let pid = try await connection.query("SELECT pg_backend_pid()", logger: logger).collect()[0].decode(Int32.self)
                        let record = try await clockwork.store.lockedClock(id, hotelID: "SHA-PD01", on: connection, logger: logger)
                        lockedNow.yield(pid)
                        for await _ in release { break }
                        try await clockwork.store.arm(clockwork.desiredTimers(of: record), for: id, now: Date(), on: connection, logger: logger)
                        return ((), [])
                    }
                    return nil
                }
                var pids = locked.makeAsyncIterator()
                let handler = try #require(await pids.next())
                let swept = Flag()
                tasks.addTask {
                    let fired = try await sweep.sweep()
                    swept.set()
                    return fired
                }
                // Either the sweep finished, or it waits for the handler's transaction (the old order: timers, then their clock).
                let settled = await eventually(timeout: .seconds(20)) {
                    if swept.isSet { return true }
                    let rows = try? await client.query(
                        "SELECT count(*)::int FROM pg_stat_activity WHERE \(handler) = ANY(pg_blocking_pids(pid))", logger: .complaintTest).collect()
                    return (try? rows?.first?.decode(Int.self)) ?? 0 > 0
                }
                #expect(settled)
                #expect(swept.isSet, "the sweep waits for the clock the handler holds")
                releaseNow.yield()
                // Neither transaction is chosen as a deadlock victim, and the sweep fired nothing of the held clock.
                var fired: [Int] = []
                for try await result in tasks { if let result { fired.append(result) } }
                #expect(fired == [0])
            }
            // The handler committed: its clock's overdue timers fire now, each once.
            #expect(try await sweep.sweep() == 4)
            #expect(try await Self.published(store).count == 4)
        }
    }

    @Test("the only due timer held by another transaction: the sweep backs off instead of asking every millisecond, then fires it")
    func backsOffWhileHeld() async throws {
        try await Self.withSchema { store, client in
            let clockwork = Clockwork(policies: Self.policies)
            try await Self.seed(1, registeredAgo: 70, clockwork: clockwork, store: store)
            let id = try #require(try await Self.complaintIDs(store).first)
            let (locked, lockedNow) = AsyncStream<Void>.makeStream()
            let (release, releaseNow) = AsyncStream<Void>.makeStream()
            let (rounds, roundNow) = AsyncStream<(fired: Int, sleep: Duration)>.makeStream()
            var configuration = TimerSweep.Configuration()
            configuration.afterRound = { fired, sleep in roundNow.yield((fired, sleep)) }
            let sweep = TimerSweep(clockwork: clockwork, store: store, client: client, configuration: configuration, logger: .complaintTest)
            let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [sweep], gracefulShutdownSignals: [], logger: .complaintTest))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                // Another replica's sweep, say, firing this clock's timers: it holds the clock and its due timers.
                tasks.addTask {
                    try await store.write { connection, logger in
                        _ = try await connection.query("SELECT 1 FROM clocks WHERE complaint_id = \(id) FOR UPDATE", logger: logger).collect()
                        _ = try await connection.query("SELECT 1 FROM timers WHERE complaint_id = \(id) FOR UPDATE", logger: logger).collect()
                        lockedNow.yield()
                        for await _ in release { break }
                        return ((), [])
                    }
                }
                for await _ in locked { break }
                tasks.addTask { try await group.run() }
                var observed = rounds.makeAsyncIterator()
                for _ in 0..<3 {
                    let round = try #require(await observed.next())
                    #expect(round.fired == 0)
                    #expect(round.sleep >= configuration.busyBackoff, "a round that fired nothing while a timer is due sleeps \(round.sleep)")
                }
                releaseNow.yield()
                // The other transaction ends without a notification: the sweep's next round, after the backoff, fires them.
                var fired = 0
                while fired == 0, let round = await observed.next() { fired = round.fired }
                #expect(fired == 4)
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
        }
    }

    @Test("timers due at the same instant fire warnings first, then the breach, then the escalation it triggers")
    func sameInstantOrder() async throws {
        try await Self.withSchema { store, client in
            let clockwork = Clockwork(policies: Self.policies)
            // Due 60 s after registration: the acknowledge breach, escalation 1 (at that breach) and the resolve warning (50% of 2 min).
            try await Self.seed(1, registeredAgo: 70, clockwork: clockwork, store: store)
            // Stored in the reverse of the firing order, so that no storage order hides a missing one.
            try await store.write { connection, logger in
                try await connection.query(
                    "WITH taken AS (DELETE FROM timers RETURNING *) INSERT INTO timers SELECT * FROM taken ORDER BY timer DESC", logger: logger)
                return ((), [])
            }
            let sweep = TimerSweep(clockwork: clockwork, store: store, client: client, logger: .complaintTest)
            #expect(try await sweep.sweep() == 4)
            let order = try await Self.published(store).map { event -> String in
                if case .escalated(let escalation) = event.milestone { return "escalated \(escalation.level)" }
                return "\(event.kind.rawValue) \(event.target.rawValue)"
            }
            #expect(order == ["warning acknowledge", "warning resolve", "breached acknowledge", "escalated 1"])
        }
    }
}

/// Set once, read from any task.
private final class Flag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}
