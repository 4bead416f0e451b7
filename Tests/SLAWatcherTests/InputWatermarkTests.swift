import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import HotelTime
import Logging
import PostgresNIO
import RdKafka
import RdKafkaTestKit
@testable import SLAWatcher
import Synchronization
import Testing

/// Timers fire only once the watcher's input is applied past them (``InputWatermark``): an in-time
/// action already on a topic is never overtaken by a breach, and the sweep holds while the brokers
/// cannot tell how far the input goes.
@Suite("Timers wait for the input", .timeLimit(.minutes(3)))
struct InputWatermarkTests {
    /// A serious complaint's targets: acknowledged within 5 minutes, resolved within an hour.
    static let serious = SLAPolicies(rules: [PolicyRule(name: "serious", response: .minutes(5), resolve: .hours(1))])

    @Test("an in-time acknowledgement applied after an assignment whose deadlines are past: met, nothing fired")
    func acknowledgementBehindAssignment() async throws {
        // Registered 10 minutes ago, acknowledged at 3 minutes; both on their topics before the watcher
        // starts (a restart, a broker outage), the acknowledgement's lane behind the assignment's.
        let registered = Date().addingTimeInterval(-600)
        let assigned = try { () throws -> EventEnvelope<ComplaintAssigned> in
            var event = try SLAWatcherStageTests.assigned(registeredAt: registered)
            event.data.severity = .serious
            return event
        }()
        let id = assigned.data.complaintID
        let acknowledged = SLAWatcherStageTests.updated(id, .acknowledged, status: .acknowledged, at: registered.addingTimeInterval(180))
        let rounds = SweepRounds()
        try await SLAWatcherStageTests.runStage(Self.serious, before: { world in
            try await world.publish([assigned], on: world.topics.assigned)
            try await world.publish([acknowledged], on: world.topics.updated)
        }, configure: { sweep, hooks, world in
            sweep.afterRound = { _, _ in rounds.ended() }
            let (assignedTopic, updatedTopic) = (world.topics.assigned.name, world.topics.updated.name)
            hooks.afterCommit = { message in if message.topic == assignedTopic { rounds.markAssignmentCommitted() } }
            // The acknowledgement is rolled back and retried (a transient conflict) until a whole sweep round
            // ran after the assignment armed its overdue timers and NOTIFYed: the old sweep fired them then.
            // (Waiting inside its transaction would hold the clock's lock, which the sweep passes by.)
            hooks.beforeCommit = { message in
                if message.topic == updatedTopic, !rounds.sweptAfterAssignment {
                    throw ConflictingRowVanished(table: "test: the acknowledgement waits for a sweep round after the assignment")
                }
            }
        }) { world, store in
            let events = try await world.sla(2)
            #expect(events.map(\.data.kind) == [.timerStarted, .met], "\(events.map(\.data.milestone))")
            // The sweep has had its chance: the input is caught up past now, and two more rounds ran.
            let applied = Date()
            try await rounds.until { try await Self.leastWatermark(store).map { $0 > applied.addingTimeInterval(0.5) } ?? false }
            try await rounds.next()
            try await rounds.next()
            #expect(try await Self.firedTimers(of: id, store) == [])
        }
    }

    @Test("while the brokers do not answer, a due timer is held; it fires once they are back and the input is caught up",
          .enabled(if: !KafkaTestEnvironment.usesExternalKafka, "takes the embedded broker down"))
    func brokerAway() async throws {
        let policies = SLAPolicies(rules: [PolicyRule(name: "seconds", response: PolicyDuration(seconds: 20), resolve: .hours(1), warning: .percent(50))])
        let rounds = SweepRounds()
        try await SLAWatcherStageTests.runStage(policies, configure: { sweep, _, _ in
            sweep.afterRound = { _, _ in rounds.ended() }
        }) { world, store in
            let cluster = try #require(world.kafka.embedded)
            // Caught up (nothing to read yet) before the complaint comes.
            try await rounds.until { try await Self.leastWatermark(store) != nil }
            let registered = Date()
            let assigned = try SLAWatcherStageTests.assigned(registeredAt: registered)
            let id = assigned.data.complaintID
            try await world.publish([assigned], on: world.topics.assigned)
            try await rounds.until { try await Self.armedTimers(of: id, store) > 0 }
            let breachDue = registered.addingTimeInterval(20)
            try #require(Date() < breachDue.addingTimeInterval(-2), "too slow to take the broker down before the deadline")
            try cluster.setBrokerDown(1)
            do {
                // Rounds that started well after the deadline (and the half-second grace): the old sweep fired it in them.
                try await rounds.until { Date() > breachDue.addingTimeInterval(2) }
                try await rounds.next()
                #expect(try await !Self.firedTimers(of: id, store).contains("acknowledge_breach"))
                #expect(try await Self.leastWatermark(store).map { $0 < breachDue } ?? true)
            } catch {
                try? cluster.setBrokerUp(1)
                throw error
            }
            try cluster.setBrokerUp(1)
            try await rounds.until(timeout: .seconds(90)) { try await Self.firedTimers(of: id, store).contains("acknowledge_breach") }
            let breach = try #require(try await world.sla(4).first { $0.data.kind == .breached && $0.data.complaintID == id })
            #expect(SLAWatcherStageTests.same(breach.data.deadline, breachDue))
        }
    }

    @Test("a partition is caught up to the latest check whose end its applied offset has reached; one given away is forgotten and checked afresh when it comes back")
    func checksReachedPerPartition() {
        var checks = InputWatermark.Checks()
        let t0 = Date(timeIntervalSince1970: 1_000)
        func at(_ seconds: TimeInterval) -> Date { t0.addingTimeInterval(seconds) }
        func progress(_ entries: [(Int32, end: Int64, processed: Int64)]) -> KafkaInputProgress {
            KafkaInputProgress(
                partitions: entries.map { KafkaInputProgress.Entry(topic: "t", partition: $0.0, end: $0.end, processed: $0.processed) },
                topicPartitions: ["t": [0, 1]])
        }
        let zero = InputWatermark.PartitionKey(topic: "t", partition: 0), one = InputWatermark.PartitionKey(topic: "t", partition: 1)
        // Partition 0 idle (caught up at once); partition 1 ten behind.
        #expect(checks.record(progress([(0, 5, 5), (1, 20, 10)]), startedAt: at(0)) == [zero: at(0)])
        // Partition 1 applied past the first check's end, not the second's: caught up to the first.
        #expect(checks.record(progress([(0, 5, 5), (1, 30, 22)]), startedAt: at(2)) == [zero: at(2), one: at(0)])
        // Caught up with the second check's end but not the third: to the second (t = 2).
        #expect(checks.record(progress([(0, 5, 5), (1, 40, 30)]), startedAt: at(4)) == [zero: at(4), one: at(2)])
        // Partition 1 given away: forgotten. Back later and behind: nothing until a check from then on is reached.
        #expect(checks.record(progress([(0, 5, 5)]), startedAt: at(6)) == [zero: at(6)])
        #expect(checks.record(progress([(0, 5, 5), (1, 60, 40)]), startedAt: at(8)) == [zero: at(8)])
        #expect(checks.record(progress([(0, 5, 5), (1, 60, 60)]), startedAt: at(10)) == [zero: at(10), one: at(10)])
    }

    @Test("a partition holding the sweep is named when the hold starts, and again as a warning while it lasts")
    func holdingPartitionNamed() async throws {
        try await TimerSweepTests.withSchema { store, client in
            let clockwork = Clockwork(policies: TimerSweepTests.policies)
            // Overdue timers; partition 1 of the input last caught up an hour ago (its lane retrying one event).
            try await TimerSweepTests.seed(1, registeredAgo: 180, clockwork: clockwork, store: store)
            try await store.write { connection, logger in
                try await connection.query("""
                    INSERT INTO input_watermarks (topic, partition, caught_up_to)
                    VALUES ('in', 0, now()), ('in', 1, now() - interval '1 hour'), ('other', 0, NULL)
                    """, logger: logger)
                return ((), [])
            }
            let logs = CapturedLogs()
            let rounds = SweepRounds()
            var configuration = TimerSweep.Configuration()
            configuration.input = TimerSweep.InputGate(topics: ["in"], grace: .zero)
            configuration.maximumIdle = .milliseconds(50)
            configuration.holdReportInterval = .zero
            configuration.afterRound = { _, _ in rounds.ended() }
            let sweep = TimerSweep(clockwork: clockwork, store: store, client: client, configuration: configuration, logger: Logger(label: "test") { _ in logs })
            try await withRunningServices([sweep]) {
                await rounds.next()
                await rounds.next()
            }
            let held = logs.entries.filter { $0.message.hasPrefix("due timers held") }
            try #require(held.count >= 2, "\(logs.entries.map(\.message))")
            #expect(held[0].level == .notice)
            #expect(held[1].level == .warning)
            for entry in held {
                let named = entry.metadata["sla.holding_partitions"] ?? ""
                #expect(named.hasPrefix("in/1 caught up to "), "\(named)")
                #expect(!named.contains("in/0") && !named.contains("other/"), "\(named)")
            }
            #expect(try await Self.firedTimers(store) == 0)
        }
    }

    @Test("a row of a partition the topic no longer has (recreated with fewer) is deleted at the next check, and firing proceeds")
    func vanishedPartitionForgotten() async throws {
        let rounds = SweepRounds()
        try await SLAWatcherStageTests.runStage(Self.serious, configure: { sweep, _, _ in
            sweep.afterRound = { _, _ in rounds.ended() }
        }) { world, store in
            try await rounds.until { try await Self.leastWatermark(store) != nil }
            let topic = world.topics.assigned.name
            try await store.write { connection, logger in
                try await connection.query("INSERT INTO input_watermarks (topic, partition) VALUES (\(topic), 99)", logger: logger)
                return ((), [])
            }
            #expect(try await Self.leastWatermark(store) == nil)
            try await rounds.until(timeout: .seconds(30)) { try await Self.leastWatermark(store) != nil }
            let left = try await store.read { connection, logger in
                try await connection.query("SELECT count(*) FROM input_watermarks WHERE partition = 99", logger: logger).collect().map { try $0.decode(Int.self) }
            }
            #expect(left == [0])
        }
    }

    @Test("a failed check is info, the next ones debug; a warning only once checks have failed for more than 30 s, then one a minute; an answer starts again")
    func failedChecksLogged() {
        var log = InputWatermark.FailureLog()
        let t0 = ContinuousClock.now
        #expect(log.failed(at: t0) == .info)
        #expect(log.failed(at: t0 + .seconds(2)) == .debug)
        #expect(log.failed(at: t0 + .seconds(30)) == .debug)
        #expect(log.failed(at: t0 + .seconds(31)) == .warning)
        #expect(log.failed(at: t0 + .seconds(60)) == .debug)
        #expect(log.failed(at: t0 + .seconds(91)) == .warning)
        let wasFailing = log.answered(), failingAgain = log.answered()
        #expect(wasFailing && !failingAgain)
        #expect(log.failed(at: t0 + .seconds(100)) == .info)
    }

    @Test("the sweeps are notified when a partition leaves NULL or jumps, not when a check moves an idle one on by an interval")
    func notifiesOnlyRealMoves() async throws {
        let kafka = try KafkaTestEnvironment()
        let consumer = try KafkaConsumer(configuration: kafka.consumerConfiguration(topics: ["t"]), logger: kafka.logger)
        try await TimerSweepTests.withSchema { store, _ in
            let watermark = InputWatermark(consumer: consumer, store: store, clock: { Date() }, logger: .complaintTest)
            let key = InputWatermark.PartitionKey(topic: "t", partition: 0)
            let t0 = Date(timeIntervalSince1970: 1_000_000)
            var notified: [Bool] = []
            // Rows made (NULL); left NULL; an idle check 2 s on; nothing new; a jump of a minute.
            for seconds in [nil, 0, 2, 2, 60] as [TimeInterval?] {
                let caught = seconds.map { [key: t0.addingTimeInterval($0)] } ?? [:]
                notified.append(try await watermark.write(caught, partitions: ["t": [0]]))
            }
            #expect(notified == [false, true, false, false, true])
        }
    }

    static func firedTimers(_ store: StageStore) async throws -> Int {
        try await store.read { connection, logger in
            let rows = try await connection.query("SELECT count(*) FROM timers WHERE fired_at IS NOT NULL", logger: logger)
            for try await count in rows.decode(Int.self) { return count }
            return 0
        }
    }

    @Test("SLA_FIRING_GRACE_SECONDS: seconds, 5 by default, anything outside 0…3600 refused by name")
    func graceSetting() async throws {
        #expect(try await SLAWatcherConfiguration.load(environment: [:]).firingGrace == .seconds(5))
        #expect(try await SLAWatcherConfiguration.load(environment: ["SLA_FIRING_GRACE_SECONDS": "2.5"]).firingGrace == .milliseconds(2500))
        #expect(try await SLAWatcherConfiguration.load(environment: ["SLA_FIRING_GRACE_SECONDS": "0"]).firingGrace == .zero)
        for bad in ["-1", "five", "3601"] {
            let error = await #expect(throws: SLAWatcherConfiguration.Invalid.self) {
                try await SLAWatcherConfiguration.load(environment: ["SLA_FIRING_GRACE_SECONDS": bad])
            }
            #expect(error?.description.contains("SLA_FIRING_GRACE_SECONDS '\(bad)'") == true)
        }
    }

    /// The least `caught_up_to` over the input's partitions; `nil` while one was never caught up.
    static func leastWatermark(_ store: StageStore) async throws -> Date? {
        try await store.read { connection, logger in
            let rows = try await connection.query(
                "SELECT min(caught_up_to), count(*) = count(caught_up_to) AND count(*) > 0 FROM input_watermarks", logger: logger)
            for try await (least, complete) in rows.decode((Date?, Bool).self) { return complete ? least : nil }
            return nil
        }
    }

    static func firedTimers(of id: UUID, _ store: StageStore) async throws -> [String] {
        try await store.read { connection, logger in
            let rows = try await connection.query(
                "SELECT timer FROM timers WHERE complaint_id = \(id) AND fired_at IS NOT NULL ORDER BY timer", logger: logger)
            var names: [String] = []
            for try await name in rows.decode(String.self) { names.append(name) }
            return names
        }
    }

    static func armedTimers(of id: UUID, _ store: StageStore) async throws -> Int {
        try await store.read { connection, logger in
            let rows = try await connection.query("SELECT count(*) FROM timers WHERE complaint_id = \(id)", logger: logger)
            for try await count in rows.decode(Int.self) { return count }
            return 0
        }
    }
}

/// The sweep's rounds as the test sees them (``TimerSweep/Configuration/afterRound``): waits driven by
/// their ends, and whether a whole round ran after the assignment committed.
final class SweepRounds: Sendable {
    private struct State {
        var ended = 0
        var assignmentCommittedAt: Int?
        var waiters: [(after: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }

    private let state = Mutex(State())

    /// A round ended.
    func ended() {
        let ready = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.ended += 1
            let ready = state.waiters.filter { $0.after < state.ended }.map(\.continuation)
            state.waiters.removeAll { $0.after < state.ended }
            return ready
        }
        for continuation in ready { continuation.resume() }
    }

    func markAssignmentCommitted() {
        state.withLock { state in
            if state.assignmentCommittedAt == nil { state.assignmentCommittedAt = state.ended }
        }
    }

    /// Whether a whole round ran after the assignment committed: round n + 2 started after round n + 1
    /// ended, so after the commit.
    var sweptAfterAssignment: Bool {
        state.withLock { state in state.assignmentCommittedAt.map { state.ended >= $0 + 2 } ?? false }
    }

    /// Waits for the next round to end.
    func next() async {
        await withCheckedContinuation { continuation in
            state.withLock { $0.waiters.append(($0.ended, continuation)) }
        }
    }

    /// Waits, round after round, until `condition` holds.
    struct TimedOut: Error {}
    func until(timeout: Duration = .seconds(60), _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while try await !condition() {
            guard ContinuousClock.now < deadline else { throw TimedOut() }
            await next()
        }
    }
}
