import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import Logging
@testable import Notifier
import PostgresNIO
import Testing

/// A complaint assignment moves to another department while its owner keeps it (`department_changed`),
/// under the shipped rules, with the handlers run directly on the notifier's schema.
@Suite("Notifications of a complaint moved to another department", .timeLimit(.minutes(2)))
struct DepartmentMoveTests {
    /// Nothing is sent for the move itself (the owner is the one who works on it, and the shipped rules
    /// name no one else for it); what staff are told afterwards names the new department. Before the move
    /// was published, a warning after it still named the department the complaint was first sent to.
    @Test("the shipped rules send nothing for the move; a later deadline warning to the owner names the new department")
    func laterMessagesNameTheNewDepartment() async throws {
        let service = RedressService.notifier.isolated()
        try await withMigratedSchema(of: service) { store, _ in
            let rules = try RulesFile.load(contentsOf: NotifierFixtures.rulesFile, environment: [:])
            let recorder = NotificationRecorder(planner: NotificationPlanner(
                rules: LiveConfiguration(name: "rules", fixed: rules), templates: try NotifierFixtures.templates()))
            let assigned = AssignedNotificationHandler(recorder: recorder), sla = SLANotificationHandler(recorder: recorder)

            var initial = try EventFixtures.assigned(complaintID: UUID())
            initial.data.reason = .initial
            initial.data.severity = .moderate
            initial.data.department = "housekeeping"
            let id = initial.data.complaintID
            _ = try await handleDirectly(initial, with: assigned, store: store, schema: service.schema)
            let told = try await NotifierFixtures.intents(store)
            #expect(told.map(\.trigger) == ["assigned.initial"], "\(told.map(\.trigger))")

            var move = initial
            move.id = UUID()
            move.data.reason = .departmentChanged
            move.data.strategy = "owner_kept"
            move.data.department = "engineering"
            move.data.assignedAt = initial.data.assignedAt.addingTimeInterval(60)
            _ = try await handleDirectly(move, with: assigned, store: store, schema: service.schema)
            #expect(try await NotifierFixtures.intents(store).count == told.count, "nothing is sent for the move")

            var warning = try EventFixtures.example("complaint-sla.v1.warning.json", on: Topics.sla)
            warning.hotelID = initial.hotelID
            warning.data.complaintID = id
            _ = try await handleDirectly(warning, with: sla, store: store, schema: service.schema)
            let warned = try #require(try await NotifierFixtures.intents(store).first { $0.trigger == "sla.warning" })
            #expect(warned.recipient.staffID == initial.data.assignee.staffID)
            #expect(warned.facts.department == "engineering")
        }
    }
}
