import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import HotelTime
import Logging
import PostgresNIO
@testable import SLAWatcher
import Testing

/// Staff actions the clocks meet out of the usual order, with the handlers run directly on the
/// watcher's schema: each judged once against the deadline it belongs to.
@Suite("Staff actions out of the usual order", .timeLimit(.minutes(2)))
struct StaffActionOrderTests {
    static let hotel = "SHA-PD01"
    /// 10 minutes to acknowledge, 20 to resolve, around the clock.
    static let policies = SLAPolicies(rules: [PolicyRule(name: "fast", response: .minutes(10), resolve: .minutes(20))])

    /// Hands `event` to `handler` in one transaction, as the stage would; returns the clock events it publishes.
    static func deliver<Handler: EventHandler>(
        _ event: EventEnvelope<Handler.Input>, to handler: Handler, store: StageStore, schema: SchemaName
    ) async throws -> [ComplaintSLAEvent] {
        let events = try await handleDirectly(event, with: handler, store: store, schema: schema)
        return try events.map { try Topics.sla.decode(Array($0.row.value.readableBytesView)).data }
    }

    static func assigned(_ id: UUID, registeredAt: Date) throws -> EventEnvelope<ComplaintAssigned> {
        var event = try EventFixtures.assigned(complaintID: id)
        event.hotelID = hotel
        event.data.registeredAt = registeredAt
        event.data.department = "housekeeping"
        event.data.category = .cleanliness
        event.data.severity = .moderate
        return event
    }

    static func classified(_ id: UUID, _ severity: Severity, at classifiedAt: Date, registeredAt: Date) throws -> EventEnvelope<ComplaintClassified> {
        var event = try EventFixtures.classified(complaintID: id)
        event.hotelID = hotel
        event.data.category = .cleanliness
        event.data.severity = severity
        event.data.classifiedAt = classifiedAt
        event.data.registeredAt = registeredAt
        return event
    }

    static func updated(_ id: UUID, _ change: ComplaintUpdated.Change, status: ComplaintStatus, at: Date) -> EventEnvelope<ComplaintUpdated> {
        EventEnvelope(
            source: "/redress/intake", time: at, hotelID: hotel,
            data: ComplaintUpdated(complaintID: id, change: change, occurredAt: at, actor: EventActor(id: "SHA-HK-001", role: .staff), statusAfter: status))
    }

    /// A staff action: the change, intake's status after it, and its time after registration.
    typealias Action = (ComplaintUpdated.Change, ComplaintStatus, TimeInterval)

    /// `actions` of complaint `id` delivered in order, each in a new envelope; the kinds each one published.
    static func deliver(
        _ actions: some Sequence<Action>, of id: UUID, registeredAt registered: Date, to handler: UpdatedClockHandler, store: StageStore,
        schema: SchemaName
    ) async throws -> [[ComplaintSLAEvent.Kind]] {
        var published: [[ComplaintSLAEvent.Kind]] = []
        for (change, status, offset) in actions {
            published.append(try await deliver(
                updated(id, change, status: status, at: registered.addingTimeInterval(offset)), to: handler, store: store, schema: schema
            ).map(\.kind))
        }
        return published
    }

    static let resolution = Resolution(text: "Fixed", rootCause: "wear", isFirstContact: true)

    /// A complaint whose clocks started, registered `ago` seconds back (its assignment delivered), and the
    /// handler of its staff actions.
    static func started(
        _ clockwork: Clockwork, registeredAgo ago: TimeInterval, store: StageStore, schema: SchemaName
    ) async throws -> (updated: UpdatedClockHandler, id: UUID, registered: Date) {
        let registered = Date().addingTimeInterval(-ago), id = UUID()
        _ = try await deliver(assigned(id, registeredAt: registered), to: AssignedClockHandler(clockwork: clockwork), store: store, schema: schema)
        return (UpdatedClockHandler(clockwork: clockwork), id, registered)
    }

    static func withHandlers(_ body: @Sendable (Clockwork, StageStore, SchemaName) async throws -> Void) async throws {
        let service = RedressService.slaWatcher.isolated()
        try await withMigratedSchema(of: service) { store, _ in try await body(Clockwork(policies: Self.policies), store, service.schema) }
    }

    /// The same with the database's client, for a ``swept(_:store:client:)``.
    static func withHandlersAndSweep(_ body: @Sendable (Clockwork, StageStore, SchemaName, PostgresClient) async throws -> Void) async throws {
        let service = RedressService.slaWatcher.isolated()
        try await withMigratedSchema(of: service) { store, client in try await body(Clockwork(policies: Self.policies), store, service.schema, client) }
    }

    /// Every clock event in the outbox (handlers' and sweep's), in order.
    static func published(_ store: StageStore) async throws -> [ComplaintSLAEvent] {
        let values = try await store.read { connection, logger in
            try await connection.query("SELECT convert_from(value, 'UTF8') FROM outbox ORDER BY id", logger: logger).collect().map { try $0.decode(String.self) }
        }
        return try values.map { try Topics.sla.decode(Array($0.utf8)).data }
    }

    /// Sweeps until nothing is due; what the sweep published, in order.
    static func swept(_ clockwork: Clockwork, store: StageStore, client: PostgresClient) async throws -> [ComplaintSLAEvent] {
        let before = try await published(store).count
        let sweep = TimerSweep(clockwork: clockwork, store: store, client: client, logger: .complaintTest)
        while try await sweep.sweep() > 0 {}
        return Array(try await published(store).dropFirst(before))
    }

    @Test("a verdict and an acknowledgement read before the assignment: nothing is armed and nothing fires until the clocks start")
    func verdictAndActionBeforeAssignment() async throws {
        try await Self.withHandlersAndSweep { clockwork, store, schema, client in
            let registered = Date().addingTimeInterval(-5 * 3600), id = UUID()
            let verdict = try Self.classified(id, .moderate, at: registered.addingTimeInterval(20), registeredAt: registered)
            #expect(try await Self.deliver(verdict, to: ClassifiedClockHandler(clockwork: clockwork), store: store, schema: schema).isEmpty)
            // Acknowledged at the desk a minute in; the assignment is late (its service down, its lane behind).
            let acknowledged = Self.updated(id, .acknowledged, status: .acknowledged, at: registered.addingTimeInterval(60))
            #expect(try await Self.deliver(acknowledged, to: UpdatedClockHandler(clockwork: clockwork), store: store, schema: schema).isEmpty)
            #expect(try await Self.timers(of: id, store: store) == [])
            let early = try await Self.swept(clockwork, store: store, client: client)
            #expect(early.isEmpty, "published before the clocks started: \(early.map { "\($0.kind) \($0.target)" })")
            // The assignment starts them: met, and only now the timers (their deadlines long past: they fire, late).
            let started = try await Self.deliver(Self.assigned(id, registeredAt: registered), to: AssignedClockHandler(clockwork: clockwork), store: store, schema: schema)
            #expect(started.map(\.kind) == [.timerStarted, .met], "\(started.map(\.kind))")
            #expect(try await Self.timers(of: id, store: store).isEmpty == false)
        }
    }

    /// A clock event as the tests compare them: kind, target and, for an escalation, its level.
    static func describe(_ event: ComplaintSLAEvent) -> String {
        if case .escalated(let escalation) = event.milestone { return "escalated \(event.target.rawValue) \(escalation.level)" }
        return "\(event.kind.rawValue) \(event.target.rawValue)"
    }

    @Test("acknowledged or resolved before the assignment reached the watcher: met when the clocks start, or breached when late, and nothing more of the stopped target fires")
    func acknowledgedBeforeAssignment() async throws {
        try await Self.withHandlersAndSweep { clockwork, store, schema, client in
            let updated = UpdatedClockHandler(clockwork: clockwork), assigned = AssignedClockHandler(clockwork: clockwork)
            let registered = Date().addingTimeInterval(-30 * 60)
            // In time: 2 minutes after registration, before the assignment.
            let early = UUID()
            #expect(try await Self.deliver(Self.updated(early, .acknowledged, status: .acknowledged, at: registered.addingTimeInterval(120)), to: updated, store: store, schema: schema).isEmpty)
            let started = try await Self.deliver(Self.assigned(early, registeredAt: registered), to: assigned, store: store, schema: schema)
            #expect(started.map(\.kind) == [.timerStarted, .met], "\(started.map(\.kind))")
            #expect(started.last?.target == .acknowledge)
            #expect(abs((started.last?.deadline.timeIntervalSince(registered) ?? 0) - 600) < 0.01)
            // The assignment delivered again judges nothing twice.
            #expect(try await Self.deliver(Self.assigned(early, registeredAt: registered), to: assigned, store: store, schema: schema).isEmpty)

            // Late, each in both orders: acknowledged 15 minutes in (due at 10: level 1 then); resolved, never
            // acknowledged, 2 h 30 min in on a complaint registered 3 h ago (due at 20 minutes: level 2 then,
            // level 3 two hours later), and 75 h in on one registered 80 h ago (the 72 h ceiling too). With the
            // assignment first these fire from the sweep (calls to act while the target runs); with the action
            // first the stopped target gets its verdict, breached, and nothing else of it.
            let hour: TimeInterval = 3600
            let levels = ["escalated acknowledge 1", "escalated resolve 2", "escalated resolve 3"]
            let cases: [(registeredAgo: TimeInterval, action: Action, inOrder: [String], verdicts: [SLATarget])] = [
                (30 * 60, (.acknowledged, .acknowledged, 15 * 60), ["warning acknowledge", "breached acknowledge", "escalated acknowledge 1"], [.acknowledge]),
                (3 * hour, (.resolved(Self.resolution), .resolved, 2.5 * hour), levels, [.acknowledge, .resolve]),
                (80 * hour, (.resolved(Self.resolution), .resolved, 75 * hour), levels + ["ceiling_reached ceiling"], [.acknowledge, .resolve]),
            ]
            for (ago, action, expectedInOrder, verdicts) in cases {
                let registered = Date().addingTimeInterval(-ago)
                let assignmentFirst = UUID(), actionFirst = UUID()
                _ = try await Self.deliver(Self.assigned(assignmentFirst, registeredAt: registered), to: assigned, store: store, schema: schema)
                #expect(try await Self.deliver([action], of: assignmentFirst, registeredAt: registered, to: updated, store: store, schema: schema) == [[]])
                #expect(try await Self.deliver([action], of: actionFirst, registeredAt: registered, to: updated, store: store, schema: schema) == [[]])
                let lateStart = try await Self.deliver(Self.assigned(actionFirst, registeredAt: registered), to: assigned, store: store, schema: schema)
                #expect(lateStart.map(Self.describe) == ["timer_started acknowledge"] + verdicts.map { "breached \($0.rawValue)" })
                let swept = try await Self.swept(clockwork, store: store, client: client)
                let inOrder = swept.filter { $0.complaintID == assignmentFirst }.map(Self.describe)
                let outOfOrder = swept.filter { $0.complaintID == actionFirst }.map(Self.describe)
                #expect(expectedInOrder.allSatisfy(inOrder.contains), "\(inOrder)")
                // What the sweep adds is the running targets' only: nothing of a stopped one, no ceiling.
                let stopped = Set(verdicts.map(\.rawValue) + (verdicts.contains(.resolve) ? ["ceiling"] : []))
                #expect(outOfOrder == inOrder.filter { !stopped.contains(String($0.split(separator: " ")[1])) }, "\(outOfOrder) against \(inOrder)")
                // Each once: the assignment again and another sweep publish nothing.
                #expect(try await Self.deliver(Self.assigned(actionFirst, registeredAt: registered), to: assigned, store: store, schema: schema).isEmpty)
                #expect(try await Self.swept(clockwork, store: store, client: client).isEmpty)
            }

            // Resolved an hour in (late), closed on day 3, the assignment read on day 4: the verdicts, and
            // no follow-up (no survey for a closed complaint), warning or escalation from the sweep.
            let closedLate = UUID(), day: TimeInterval = 24 * hour, longAgo = Date().addingTimeInterval(-4 * day)
            _ = try await Self.deliver([(.resolved(Self.resolution), .resolved, hour), (.closed, .closed, 3 * day)],
                of: closedLate, registeredAt: longAgo, to: updated, store: store, schema: schema)
            let closedStart = try await Self.deliver(Self.assigned(closedLate, registeredAt: longAgo), to: assigned, store: store, schema: schema)
            #expect(closedStart.map(Self.describe) == ["timer_started acknowledge", "breached acknowledge", "breached resolve"])
            #expect(try await Self.timers(of: closedLate, store: store).isEmpty)
            #expect(try await Self.swept(clockwork, store: store, client: client).isEmpty)
        }
    }

    @Test("timer rows an older replica armed on a clock the assignment had not started: none fires, and the start replaces them with its own")
    func timersArmedBeforeTheStart() async throws {
        try await Self.withHandlersAndSweep { clockwork, store, schema, client in
            let updated = UpdatedClockHandler(clockwork: clockwork), assigned = AssignedClockHandler(clockwork: clockwork)
            let registered = Date().addingTimeInterval(-30 * 60), old = UUID(), twin = UUID()
            for id in [old, twin] {
                _ = try await Self.deliver(Self.updated(id, .acknowledged, status: .acknowledged, at: registered.addingTimeInterval(60)), to: updated, store: store, schema: schema)
            }
            // As the code before d5f8557 armed them (on 24x7, before the department was known), some long due.
            let armed: [(String, TimeInterval)] = [("acknowledge_breach", 600), ("escalation_1", 1300), ("escalation_2", 1400)]
            try await store.write { connection, logger in
                for (timer, offset) in armed {
                    try await connection.query(
                        "INSERT INTO timers (complaint_id, timer, due_at) VALUES (\(old), \(timer), \(registered.addingTimeInterval(offset)))", logger: logger)
                }
                // And one such a replica already fired on 24x7 during the rolling deploy: it must not keep the
                // started clock from arming its own resolve breach.
                try await connection.query(
                    "INSERT INTO timers (complaint_id, timer, due_at, fired_at) VALUES (\(old), 'resolve_breach#1', \(registered.addingTimeInterval(1100)), now())",
                    logger: logger)
                return ((), [])
            }
            let early = try await Self.swept(clockwork, store: store, client: client)
            #expect(early.isEmpty, "fired before the clock started: \(early.map(Self.describe))")
            for id in [old, twin] {
                _ = try await Self.deliver(Self.assigned(id, registeredAt: registered), to: assigned, store: store, schema: schema)
            }
            // The same rows as a clock that never had any, and the same events from the sweep.
            #expect(try await Self.timers(of: old, store: store) == Self.timers(of: twin, store: store))
            let swept = try await Self.swept(clockwork, store: store, client: client)
            #expect(swept.filter { $0.complaintID == old }.map(Self.describe) == swept.filter { $0.complaintID == twin }.map(Self.describe))
        }
    }

    @Test("an acknowledgement a millisecond after its deadline is late and one at it in time, in either order, whatever fraction of a millisecond the registration has")
    func millisecondBoundary() async throws {
        try await Self.withHandlersAndSweep { clockwork, store, schema, client in
            let updated = UpdatedClockHandler(clockwork: clockwork), assigned = AssignedClockHandler(clockwork: clockwork)
            let base = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 - 30 * 60).rounded(.down))
            let fractions: [TimeInterval] = [0, 0.0001, 0.00025, 0.0004, 0.0006, 0.00075, 0.0009]
            var late: Set<UUID> = [], all: Set<UUID> = []
            for k in 0..<21 {
                let registered = base.addingTimeInterval(Double(k) * 0.037 + fractions[k % fractions.count])
                for isLate in [true, false] {
                    let at = registered.addingTimeInterval(600 + (isLate ? 0.001 : 0))
                    let assignmentFirst = UUID(), actionFirst = UUID()
                    _ = try await Self.deliver(Self.assigned(assignmentFirst, registeredAt: registered), to: assigned, store: store, schema: schema)
                    let judged = try await Self.deliver(Self.updated(assignmentFirst, .acknowledged, status: .acknowledged, at: at), to: updated, store: store, schema: schema)
                    #expect(judged.map(Self.describe) == (isLate ? [] : ["met acknowledge"]), "registered \(registered.timeIntervalSince1970), late \(isLate)")
                    _ = try await Self.deliver(Self.updated(actionFirst, .acknowledged, status: .acknowledged, at: at), to: updated, store: store, schema: schema)
                    let started = try await Self.deliver(Self.assigned(actionFirst, registeredAt: registered), to: assigned, store: store, schema: schema)
                    #expect(started.dropFirst().map(Self.describe) == [isLate ? "breached acknowledge" : "met acknowledge"], "registered \(registered.timeIntervalSince1970), late \(isLate)")
                    if isLate { late.insert(assignmentFirst) }
                    all.formUnion([assignmentFirst, actionFirst])
                }
            }
            // The sweep breaches the late ones read after the assignment, and none in time.
            let swept = try await Self.swept(clockwork, store: store, client: client).filter { all.contains($0.complaintID) && $0.target == .acknowledge }
            #expect(Set(swept.filter { $0.kind == .breached }.map(\.complaintID)) == late)
            #expect(swept.allSatisfy { $0.kind == .breached || $0.kind == .escalated || $0.kind == .warning })
        }
    }

    @Test("acknowledged and resolved exactly at their deadlines: met, and neither breach nor its escalation fires")
    func actionsAtTheDeadline() async throws {
        try await Self.withHandlersAndSweep { clockwork, store, schema, client in
            let (updated, id, registered) = try await Self.started(clockwork, registeredAgo: 30 * 60, store: store, schema: schema)
            // 10 minutes to acknowledge, 20 to resolve.
            let published = try await Self.deliver([
                (.acknowledged, .acknowledged, 10 * 60), (.resolved(Self.resolution), .resolved, 20 * 60),
            ], of: id, registeredAt: registered, to: updated, store: store, schema: schema)
            #expect(published == [[.met], [.met]], "\(published)")
            let timers = try await Self.timers(of: id, store: store)
            #expect(!timers.contains { $0.hasPrefix("acknowledge_breach") || $0.hasPrefix("resolve_breach") }, "\(timers)")
            // The warnings came due before the actions: they still fire, and nothing else does.
            let swept = try await Self.swept(clockwork, store: store, client: client)
            #expect(swept.map { "\($0.kind) \($0.target)" } == ["warning acknowledge", "warning resolve"])
        }
    }

    @Test("resolved straight from waiting for the guest, without resuming: the pause ends there and the resolution is met")
    func resolvedWhileWaiting() async throws {
        try await Self.withHandlers { clockwork, store, schema in
            let (updated, id, registered) = try await Self.started(clockwork, registeredAgo: 15 * 60, store: store, schema: schema)
            _ = try await Self.deliver(Self.updated(id, .acknowledged, status: .acknowledged, at: registered.addingTimeInterval(60)), to: updated, store: store, schema: schema)
            let pausedAt = registered.addingTimeInterval(5 * 60)
            let paused = try await Self.deliver(Self.updated(id, .waitingForGuest, status: .waitingForGuest, at: pausedAt), to: updated, store: store, schema: schema)
            #expect(paused.map(\.kind) == [.paused])
            let resolvedAt = registered.addingTimeInterval(14 * 60)
            let resolved = try await Self.deliver(Self.updated(id, .resolved(Self.resolution), status: .resolved, at: resolvedAt), to: updated, store: store, schema: schema)
            #expect(resolved.map(\.kind) == [.met], "\(resolved.map(\.kind))")
            // 20 minutes of clock, 9 of them paused: due 29 minutes after registration.
            #expect(abs((resolved.first?.deadline.timeIntervalSince(registered) ?? 0) - 29 * 60) < 0.01)
        }
    }

    /// The clock's timers: name, due time, fired or not.
    static func timers(of id: UUID, store: StageStore) async throws -> [String] {
        try await store.read { connection, logger in
            try await connection.query(
                "SELECT timer || ' ' || due_at::text || ' ' || (fired_at IS NOT NULL)::text FROM timers WHERE complaint_id = \(id) ORDER BY timer",
                logger: logger
            ).collect().map { try $0.decode(String.self) }
        }
    }

    @Test("a verdict read after the sweep fell behind: timers already due when it was made still fire, later ones follow it")
    func reclassifiedAfterTimersCameDue() async throws {
        let service = RedressService.slaWatcher.isolated()
        try await withMigratedSchema(of: service) { store, client in
            // A minor complaint gets an hour to be acknowledged instead of ten minutes.
            let clockwork = Clockwork(policies: SLAPolicies(rules: [
                PolicyRule(name: "fast", response: .minutes(10), resolve: .minutes(20)),
                PolicyRule(name: "minor", severity: .minor, response: .minutes(60), resolve: .minutes(120)),
            ]))
            let assigned = AssignedClockHandler(clockwork: clockwork), classified = ClassifiedClockHandler(clockwork: clockwork)
            let registered = Date().addingTimeInterval(-30 * 60)
            // No sweep ran since: the acknowledge deadline (10 minutes) passed 20 minutes ago, unfired.
            let lagging = UUID(), early = UUID()
            for id in [lagging, early] {
                _ = try await Self.deliver(Self.assigned(id, registeredAt: registered), to: assigned, store: store, schema: service.schema)
            }
            // Made minor now, after the breach: the breach stands. Made minor 5 minutes in, before it, but read only now: no breach.
            let late = try await Self.deliver(
                Self.classified(lagging, .minor, at: Date(), registeredAt: registered), to: classified, store: store, schema: service.schema)
            #expect(late.map(\.kind) == [.rescheduled])
            _ = try await Self.deliver(
                Self.classified(early, .minor, at: registered.addingTimeInterval(5 * 60), registeredAt: registered), to: classified, store: store,
                schema: service.schema)
            let sweep = TimerSweep(clockwork: clockwork, store: store, client: client, logger: .complaintTest)
            _ = try await sweep.sweep()
            let values = try await store.read { connection, logger in
                try await connection.query("SELECT convert_from(value, 'UTF8') FROM outbox ORDER BY id", logger: logger).collect()
                    .map { try $0.decode(String.self) }
            }
            let breaches = try values.map { try Topics.sla.decode(Array($0.utf8)).data }.filter { $0.kind == .breached && $0.target == .acknowledge }
            #expect(breaches.map(\.complaintID) == [lagging], "acknowledge breaches: \(breaches.map(\.complaintID)), lagging \(lagging)")
            #expect(abs((breaches.first?.deadline.timeIntervalSince(registered) ?? 0) - 600) < 0.01)
        }
    }

    @Test("acknowledged, resolved, reopened, resolved, then the same four read again under new event ids: nothing new")
    func replayedActions() async throws {
        try await Self.withHandlers { clockwork, store, schema in
            let (updated, id, registered) = try await Self.started(clockwork, registeredAgo: 60 * 60, store: store, schema: schema)
            let actions: [Action] = [
                (.acknowledged, .acknowledged, 2 * 60), (.resolved(Self.resolution), .resolved, 10 * 60),
                (.reopened(Reopening(trigger: .staffDecision, reason: "still noisy")), .reopened, 15 * 60), (.resolved(Self.resolution), .resolved, 25 * 60),
            ]
            let first = try await Self.deliver(actions, of: id, registeredAt: registered, to: updated, store: store, schema: schema)
            // The reopening publishes the new resolve clock's deadline.
            #expect(first == [[.met], [.met], [.rescheduled], [.met]])
            let timers = try await Self.timers(of: id, store: store)
            // Offsets reset: the same actions again, each a new envelope (a new event id the inbox never saw).
            let again = try await Self.deliver(actions, of: id, registeredAt: registered, to: updated, store: store, schema: schema)
            #expect(again == [[], [], [], []], "read again, they published \(again)")
            #expect(try await Self.timers(of: id, store: store) == timers)
        }
    }

    @Test("waiting for the guest, resumed, resolved and closed read again after a reopening: the clock stays open and unpaused")
    func replayedPauseAndClose() async throws {
        try await Self.withHandlers { clockwork, store, schema in
            let (updated, id, registered) = try await Self.started(clockwork, registeredAgo: 60 * 60, store: store, schema: schema)
            let history: [Action] = [
                (.acknowledged, .acknowledged, 60), (.waitingForGuest, .waitingForGuest, 3 * 60), (.resumed, .acknowledged, 5 * 60),
                (.resolved(Self.resolution), .resolved, 10 * 60), (.closed, .closed, 12 * 60),
            ]
            func deliver(_ actions: ArraySlice<Action>) async throws -> [ComplaintSLAEvent.Kind] {
                try await Self.deliver(actions, of: id, registeredAt: registered, to: updated, store: store, schema: schema).flatMap { $0 }
            }
            #expect(try await deliver(history[0..<3]) == [.met, .paused, .resumed])
            // The pause read again while the clock runs: not a second pause.
            #expect(try await deliver(history[1..<3]) == [])
            #expect(try await deliver(history[3...]) == [.met])
            let reopening = ComplaintUpdated.Change.reopened(Reopening(trigger: .staffDecision, reason: "still noisy"))
            #expect(try await deliver([(reopening, .reopened, 20 * 60)]) == [.rescheduled])
            let timers = try await Self.timers(of: id, store: store)
            // All of it again, after the reopening.
            #expect(try await deliver(ArraySlice(history + [(reopening, .reopened, 20 * 60)])) == [])
            #expect(try await Self.timers(of: id, store: store) == timers)
            let clock = try #require(try await store.write { connection, logger in
                (try await clockwork.store.clock(id, on: connection, logger: logger), [])
            })
            #expect(clock.resolveGeneration == 2)
            #expect(clock.resolvedAt == nil && clock.closedAt == nil && !clock.isPaused)
            #expect(clock.pauses.count == 1)
        }
    }

    @Test("reopened without an acknowledgement on record: the reopening, resumed and rescheduled carry no acknowledge deadline, and rescheduled is the new resolve deadline")
    func reopenedNeverAcknowledgedDeadlines() async throws {
        try await Self.withHandlers { clockwork, store, schema in
            let (updated, id, registered) = try await Self.started(clockwork, registeredAgo: 60 * 60, store: store, schema: schema)
            let reopening = ComplaintUpdated.Change.reopened(Reopening(trigger: .staffDecision, reason: "still noisy"))
            #expect(try await Self.deliver([(.resolved(Self.resolution), .resolved, 5 * 60)],
                of: id, registeredAt: registered, to: updated, store: store, schema: schema) == [[.met]])
            // The reopening publishes the new resolve clock (20 min from the reopening), no acknowledge deadline.
            let reopened = try await Self.deliver(
                Self.updated(id, reopening, status: .reopened, at: registered.addingTimeInterval(30 * 60)), to: updated, store: store, schema: schema)
            #expect(reopened.map(\.kind) == [.rescheduled])
            #expect(reopened.first?.target == .resolve)
            #expect(reopened.first?.acknowledgeBy == nil)
            #expect(abs((reopened.first?.resolveBy?.timeIntervalSince(registered) ?? 0) - 50 * 60) < 0.01)
            #expect(abs((reopened.first?.deadline.timeIntervalSince(registered) ?? 0) - 50 * 60) < 0.01)
            #expect(try await Self.deliver([(.waitingForGuest, .waitingForGuest, 35 * 60)],
                of: id, registeredAt: registered, to: updated, store: store, schema: schema) == [[.paused]])
            // Reopened at 30 min, 20 to resolve, 5 of them paused: due 55 min after registration.
            let resumed = try await Self.deliver(
                Self.updated(id, .resumed, status: .reopened, at: registered.addingTimeInterval(40 * 60)), to: updated, store: store, schema: schema)
            let event = try #require(resumed.first)
            #expect(event.kind == .resumed)
            #expect(event.acknowledgeBy == nil, "\(String(describing: event.acknowledgeBy))")
            #expect(abs((event.resolveBy?.timeIntervalSince(registered) ?? 0) - 55 * 60) < 0.01)
            let verdict = try Self.classified(id, .serious, at: registered.addingTimeInterval(45 * 60), registeredAt: registered)
            let rescheduled = try await Self.deliver(verdict, to: ClassifiedClockHandler(clockwork: clockwork), store: store, schema: schema)
            #expect(rescheduled.map(\.kind) == [.rescheduled])
            #expect(rescheduled.first?.target == .resolve)
            #expect(abs((rescheduled.first?.deadline.timeIntervalSince(registered) ?? 0) - 55 * 60) < 0.01)
            #expect(rescheduled.first?.acknowledgeBy == nil)
        }
    }

    @Test("the time a complaint spent resolved is kept on its clock: actions after a reopening, and a second reopening, keep the ceiling at 72 h of open time")
    func timeResolvedIsKept() async throws {
        try await Self.withHandlers { clockwork, store, schema in
            let (updated, id, registered) = try await Self.started(clockwork, registeredAgo: 150 * 3600, store: store, schema: schema)
            let reopening = ComplaintUpdated.Change.reopened(Reopening(trigger: .followupDissatisfied, reason: "satisfaction 2"))
            func ceiling() async throws -> Date? {
                try await store.read { connection, logger in
                    try await connection.query("SELECT due_at FROM timers WHERE complaint_id = \(id) AND timer = 'ceiling'", logger: logger)
                        .collect().first?.decode(Date.self)
                }
            }
            let hour: TimeInterval = 3600
            // Open 1 h, resolved 73 h, reopened at 74 h: the ceiling 71 h later. A pause and a resume re-arm it from the stored clock.
            _ = try await Self.deliver([
                (.acknowledged, .acknowledged, 120), (.resolved(Self.resolution), .resolved, hour), (reopening, .reopened, 74 * hour),
                (.waitingForGuest, .waitingForGuest, 75 * hour), (.resumed, .acknowledged, 76 * hour),
            ], of: id, registeredAt: registered, to: updated, store: store, schema: schema)
            let clock = try #require(try await store.write { connection, logger in (try await clockwork.store.clock(id, on: connection, logger: logger), []) })
            #expect(abs(clock.timeResolved - 73 * hour) < 0.01)
            #expect(abs((try await ceiling()?.timeIntervalSince(registered) ?? 0) - 145 * hour) < 0.01)
            // Resolved again at 80 h (7 h open in all), reopened at 100 h: 65 h are left.
            _ = try await Self.deliver([(.resolved(Self.resolution), .resolved, 80 * hour), (reopening, .reopened, 100 * hour)],
                of: id, registeredAt: registered, to: updated, store: store, schema: schema)
            #expect(abs((try await ceiling()?.timeIntervalSince(registered) ?? 0) - 165 * hour) < 0.01)
        }
    }
}
