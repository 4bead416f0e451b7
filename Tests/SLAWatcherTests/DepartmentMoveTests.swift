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

/// A complaint that assignment moves to another department while its owner keeps it (a reclassification
/// after it was acknowledged: `department_changed`), with the handlers run directly on the watcher's
/// schema: its clocks follow the new department's calendar.
@Suite("Department moves and the SLA calendar", .timeLimit(.minutes(2)))
struct DepartmentMoveTests {
    static let hotel = "SHA-PD01"

    /// Engineering opens 09:00–17:00 (UTC) on one weekday only, three days from now: its deadlines lie
    /// days ahead whatever the time the test runs, while housekeeping and front office run around the clock.
    static let office: BusinessCalendar = {
        var utc = Calendar(identifier: .gregorian)
        utc.timeZone = TimeZone(identifier: "UTC")!
        let day = Weekday(calendarWeekday: utc.component(.weekday, from: Date().addingTimeInterval(3 * 86_400)))
        return BusinessCalendar(name: "office", hours: [day: [BusinessCalendar.Opening("09:00-17:00")!]])
    }()

    /// 10 minutes to acknowledge, 20 to resolve.
    static let policies = SLAPolicies(
        rules: [PolicyRule(name: "fast", response: .minutes(10), resolve: .minutes(20))], calendars: ["office": office],
        departmentCalendars: ["engineering": "office"])

    static func assigned(
        _ id: UUID, department: String, reason: AssignmentReason, registeredAt: Date, at assignedAt: Date
    ) throws -> EventEnvelope<ComplaintAssigned> {
        var event = try EventFixtures.assigned(complaintID: id)
        event.hotelID = hotel
        event.data.registeredAt = registeredAt
        event.data.assignedAt = assignedAt
        event.data.department = department
        event.data.category = .cleanliness
        event.data.severity = .moderate
        event.data.reason = reason
        if reason == .departmentChanged { event.data.strategy = "owner_kept" }
        return event
    }

    static func deliver<Handler: EventHandler>(
        _ event: EventEnvelope<Handler.Input>, to handler: Handler, store: StageStore, schema: SchemaName
    ) async throws -> [ComplaintSLAEvent] {
        let events = try await handleDirectly(event, with: handler, store: store, schema: schema)
        return try events.map { try Topics.sla.decode(Array($0.row.value.readableBytesView)).data }
    }

    /// The unfired timers of a complaint, by name.
    static func timers(_ id: UUID, store: StageStore) async throws -> [String: Date] {
        try await store.read { connection, logger in
            var timers: [String: Date] = [:]
            let rows = try await connection.query("SELECT timer, due_at FROM timers WHERE complaint_id = \(id) AND fired_at IS NULL", logger: logger)
            for try await (name, due) in rows.decode((String, Date).self) { timers[name] = due }
            return timers
        }
    }

    static func withHandler(_ body: @Sendable (AssignedClockHandler, UpdatedClockHandler, StageStore, SchemaName) async throws -> Void) async throws {
        let service = RedressService.slaWatcher.isolated()
        let clockwork = Clockwork(policies: Self.policies)
        try await withMigratedSchema(of: service) { store, _ in
            try await body(AssignedClockHandler(clockwork: clockwork), UpdatedClockHandler(clockwork: clockwork), store, service.schema)
        }
    }

    static func same(_ lhs: Date?, _ rhs: Date?) -> Bool {
        guard let lhs, let rhs else { return false }
        return abs(lhs.timeIntervalSince(rhs)) < 0.002
    }

    /// Before: the clock kept the first assignment's department for good, so a complaint moved from
    /// housekeeping (around the clock) to engineering (office hours) was held to housekeeping's deadlines:
    /// the move published nothing, armed nothing, and the acknowledgement below was never `met`.
    @Test("moved to a department on another calendar: the open deadlines follow its calendar (rescheduled, once); an older assignment read again does not move them back")
    func movedToAnotherCalendar() async throws {
        try await Self.withHandler { assigned, updated, store, schema in
            let id = UUID()
            let registered = Date().addingTimeInterval(-60)
            let started = try await Self.deliver(
                try Self.assigned(id, department: "housekeeping", reason: .initial, registeredAt: registered, at: registered.addingTimeInterval(5)),
                to: assigned, store: store, schema: schema)
            #expect(started.map(\.kind) == [.timerStarted])
            #expect(Self.same(started.first?.acknowledgeBy, registered.addingTimeInterval(600)))

            let move = try Self.assigned(id, department: "engineering", reason: .departmentChanged, registeredAt: registered, at: registered.addingTimeInterval(30))
            let moved = try await Self.deliver(move, to: assigned, store: store, schema: schema)
            let arithmetic = ClockArithmetic(calendar: Self.office, timeZone: TimeZone(identifier: "UTC")!)
            let acknowledgeBy = try #require(arithmetic.due(start: registered, budget: 600, pauses: []))
            let resolveBy = try #require(arithmetic.due(start: registered, budget: 1200, pauses: []))
            #expect(acknowledgeBy.timeIntervalSince(registered) > 86_400, "the office calendar puts it days ahead")
            #expect(moved.map(\.kind) == [.rescheduled], "\(moved.map(\.kind))")
            #expect(moved.first?.target == .acknowledge)
            #expect(Self.same(moved.first?.deadline, acknowledgeBy) && Self.same(moved.first?.acknowledgeBy, acknowledgeBy))
            #expect(Self.same(moved.first?.resolveBy, resolveBy))
            let timers = try await Self.timers(id, store: store)
            #expect(Self.same(timers["acknowledge_breach"], acknowledgeBy) && Self.same(timers["resolve_breach#1"], resolveBy), "\(timers)")

            // The move again under a new event id, and the first assignment read again: nothing.
            var again = move
            again.id = UUID()
            #expect(try await Self.deliver(again, to: assigned, store: store, schema: schema).isEmpty)
            #expect(try await Self.deliver(
                try Self.assigned(id, department: "housekeeping", reason: .initial, registeredAt: registered, at: registered.addingTimeInterval(5)),
                to: assigned, store: store, schema: schema).isEmpty)
            #expect(Self.same(try await Self.timers(id, store: store)["acknowledge_breach"], acknowledgeBy))

            // Acknowledged 12 minutes in: late on housekeeping's clock, in time on engineering's.
            let acknowledgedAt = registered.addingTimeInterval(12 * 60)
            let acknowledged = EventEnvelope(
                source: "/redress/intake", time: acknowledgedAt, hotelID: Self.hotel,
                data: ComplaintUpdated(
                    complaintID: id, change: .acknowledged, occurredAt: acknowledgedAt, actor: EventActor(id: "SHA-HK-001", role: .staff),
                    statusAfter: .acknowledged))
            let met = try await Self.deliver(acknowledged, to: updated, store: store, schema: schema)
            #expect(met.map(\.kind) == [.met] && Self.same(met.first?.deadline, acknowledgeBy), "\(met)")
        }
    }

    @Test("moved to a department on the same calendar: the department is kept, nothing is published or moved")
    func movedOnTheSameCalendar() async throws {
        try await Self.withHandler { assigned, _, store, schema in
            let id = UUID()
            let registered = Date().addingTimeInterval(-60)
            _ = try await Self.deliver(
                try Self.assigned(id, department: "housekeeping", reason: .initial, registeredAt: registered, at: registered.addingTimeInterval(5)),
                to: assigned, store: store, schema: schema)
            let before = try await Self.timers(id, store: store)
            #expect(try await Self.deliver(
                try Self.assigned(id, department: "front_office", reason: .departmentChanged, registeredAt: registered, at: registered.addingTimeInterval(30)),
                to: assigned, store: store, schema: schema).isEmpty)
            #expect(try await Self.timers(id, store: store) == before)
            let department = try await store.read { connection, logger in
                try await connection.query("SELECT department FROM clocks WHERE complaint_id = \(id)", logger: logger)
                    .collect().first?.decode(String?.self)
            }
            #expect(department == "front_office")
        }
    }

    @Test("the backtest judges a moved complaint on its newest department's calendar, whatever order the assignments are read in")
    func backtestFollowsTheMove() throws {
        let registered = Date().addingTimeInterval(-60)
        let initial = try Self.assigned(UUID(), department: "housekeeping", reason: .initial, registeredAt: registered, at: registered.addingTimeInterval(5))
        let move = try Self.assigned(initial.data.complaintID, department: "engineering", reason: .departmentChanged, registeredAt: registered, at: registered.addingTimeInterval(30))
        var inOrder = RecordedComplaint(id: initial.data.complaintID, hotelID: Self.hotel)
        inOrder.record(initial.data)
        inOrder.record(move.data)
        var reversed = RecordedComplaint(id: initial.data.complaintID, hotelID: Self.hotel)
        reversed.record(move.data)
        reversed.record(initial.data)
        #expect(inOrder.department == "engineering" && reversed.department == "engineering")
    }
}
