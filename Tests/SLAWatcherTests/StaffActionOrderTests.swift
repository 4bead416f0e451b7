import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import HotelTime
import Logging
import PostgresNIO
import SLAWatcher
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
        return event
    }

    static func updated(_ id: UUID, _ change: ComplaintUpdated.Change, status: ComplaintStatus, at: Date) -> EventEnvelope<ComplaintUpdated> {
        EventEnvelope(
            source: "/redress/intake", time: at, hotelID: hotel,
            data: ComplaintUpdated(complaintID: id, change: change, occurredAt: at, actor: EventActor(id: "SHA-HK-001", role: .staff), statusAfter: status))
    }

    static func withHandlers(_ body: @Sendable (Clockwork, StageStore, SchemaName) async throws -> Void) async throws {
        let service = RedressService.slaWatcher.isolated()
        try await withMigratedSchema(of: service) { store, _ in try await body(Clockwork(policies: Self.policies), store, service.schema) }
    }

    @Test("acknowledged at the desk before the assignment reached the watcher: met when the clocks start, or breached if it was late")
    func acknowledgedBeforeAssignment() async throws {
        try await Self.withHandlers { clockwork, store, schema in
            let updated = UpdatedClockHandler(clockwork: clockwork), assigned = AssignedClockHandler(clockwork: clockwork)
            let registered = Date().addingTimeInterval(-30 * 60)
            // In time: 2 minutes after registration, before the assignment.
            let early = UUID()
            #expect(try await Self.deliver(Self.updated(early, .acknowledged, status: .acknowledged, at: registered.addingTimeInterval(120)), to: updated, store: store, schema: schema).isEmpty)
            let started = try await Self.deliver(Self.assigned(early, registeredAt: registered), to: assigned, store: store, schema: schema)
            #expect(started.map(\.kind) == [.timerStarted, .met], "\(started.map(\.kind))")
            #expect(started.last?.target == .acknowledge)
            #expect(abs((started.last?.deadline.timeIntervalSince(registered) ?? 0) - 600) < 0.01)

            // Late: 15 minutes after registration, the assignment after that.
            let late = UUID()
            _ = try await Self.deliver(Self.updated(late, .acknowledged, status: .acknowledged, at: registered.addingTimeInterval(900)), to: updated, store: store, schema: schema)
            let lateStart = try await Self.deliver(Self.assigned(late, registeredAt: registered), to: assigned, store: store, schema: schema)
            #expect(lateStart.map(\.kind) == [.timerStarted, .breached], "\(lateStart.map(\.kind))")
            #expect(lateStart.last?.target == .acknowledge)

            // The assignment delivered again judges nothing twice.
            #expect(try await Self.deliver(Self.assigned(early, registeredAt: registered), to: assigned, store: store, schema: schema).isEmpty)
        }
    }

    @Test("resolved straight from waiting for the guest, without resuming: the pause ends there and the resolution is met")
    func resolvedWhileWaiting() async throws {
        try await Self.withHandlers { clockwork, store, schema in
            let updated = UpdatedClockHandler(clockwork: clockwork), assigned = AssignedClockHandler(clockwork: clockwork)
            let registered = Date().addingTimeInterval(-15 * 60)
            let id = UUID()
            _ = try await Self.deliver(Self.assigned(id, registeredAt: registered), to: assigned, store: store, schema: schema)
            _ = try await Self.deliver(Self.updated(id, .acknowledged, status: .acknowledged, at: registered.addingTimeInterval(60)), to: updated, store: store, schema: schema)
            let pausedAt = registered.addingTimeInterval(5 * 60)
            let paused = try await Self.deliver(Self.updated(id, .waitingForGuest, status: .waitingForGuest, at: pausedAt), to: updated, store: store, schema: schema)
            #expect(paused.map(\.kind) == [.paused])
            let resolvedAt = registered.addingTimeInterval(14 * 60)
            let resolution = Resolution(text: "Fixed", rootCause: "wear", isFirstContact: true)
            let resolved = try await Self.deliver(Self.updated(id, .resolved(resolution), status: .resolved, at: resolvedAt), to: updated, store: store, schema: schema)
            #expect(resolved.map(\.kind) == [.met], "\(resolved.map(\.kind))")
            // 20 minutes of clock, 9 of them paused: due 29 minutes after registration.
            #expect(abs((resolved.first?.deadline.timeIntervalSince(registered) ?? 0) - 29 * 60) < 0.01)
        }
    }
}
