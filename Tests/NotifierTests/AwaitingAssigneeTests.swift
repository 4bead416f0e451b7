import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import Logging
@testable import Notifier
import PostgresNIO
import Testing

/// A clock event read before the complaint's first assignment (another topic; after a backlog): the
/// assignee's message waits for the assignment instead of being dropped.
@Suite("Notifications waiting for the assignee", .timeLimit(.minutes(2)))
struct AwaitingAssigneeTests {
    static let yaml = """
        hotels:
          LON-KX02: {}
        staff:
          LON-KX02:
            SHA-HK-007: {email: hk007@pd.example}
        rules:
          - {name: missed, on: [sla.breached], to: [assignee], template: sla_breached_staff}
          - {name: new, on: [assigned.initial], to: [assignee], template: complaint_assigned_staff}
        """

    static func deliver<Handler: EventHandler>(
        _ event: EventEnvelope<Handler.Input>, to handler: Handler, store: StageStore, schema: SchemaName
    ) async throws {
        _ = try await handleDirectly(event, with: handler, store: store, schema: schema)
    }

    @Test("a breach before the first assignment is told to the assignee once someone is assigned, under the breach's own key; nothing twice")
    func breachBeforeAssignment() async throws {
        let service = RedressService.notifier.isolated()
        try await withMigratedSchema(of: service) { store, _ in
            let rules = try NotifierFixtures.rules(Self.yaml)
            let recorder = NotificationRecorder(planner: NotificationPlanner(rules: LiveConfiguration(name: "rules", fixed: rules), templates: try NotifierFixtures.templates()))
            let sla = SLANotificationHandler(recorder: recorder), assigned = AssignedNotificationHandler(recorder: recorder)

            var assignment = try EventFixtures.assigned(complaintID: UUID())
            assignment.data.reason = .initial
            assignment.data.assignee = Assignee(staffID: "SHA-HK-007", name: "Li Na", role: .staff)
            let id = assignment.data.complaintID
            var breach = try EventFixtures.example("complaint-sla.v1.breached.json", on: Topics.sla)
            breach.hotelID = assignment.hotelID
            breach.data.complaintID = id

            try await Self.deliver(breach, to: sla, store: store, schema: service.schema)
            #expect(try await NotifierFixtures.intents(store).isEmpty, "nobody to tell yet")
            try await Self.deliver(assignment, to: assigned, store: store, schema: service.schema)
            let intents = try await NotifierFixtures.intents(store)
            #expect(Set(intents.map(\.trigger)) == ["assigned.initial", "sla.breached"], "\(intents.map(\.trigger))")
            let missed = try #require(intents.first { $0.trigger == "sla.breached" })
            #expect(missed.recipient.staffID == "SHA-HK-007" && missed.staffAddress == "hk007@pd.example")
            #expect(missed.causeEventID == breach.id)
            #expect(missed.facts.assigneeName == "Li Na")

            // A later event with the assignee known releases nothing again.
            var later = breach
            later.id = UUID()
            try await Self.deliver(later, to: sla, store: store, schema: service.schema)
            #expect(try await NotifierFixtures.intents(store).filter { $0.trigger == "sla.breached" }.count == 2)
            let held = try await store.read { connection, logger in
                try await connection.query("SELECT count(*)::int FROM awaiting_assignee", logger: logger).collect()[0].decode(Int.self)
            }
            #expect(held == 0)
        }
    }
}
