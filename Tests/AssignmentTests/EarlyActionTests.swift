import Assignment
import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import NIOCore
import Testing

/// Staff act at the desk on `complaints.updated.v1` while the classification is still on its way on
/// `complaints.classified.v1` (no order between topics): what they did holds when it arrives.
@Suite("Staff actions before the classification", .timeLimit(.minutes(2)))
struct EarlyActionTests {
    static func updated(_ change: ComplaintUpdated.Change, of id: UUID, by staffID: String, status: ComplaintStatus) -> EventEnvelope<ComplaintUpdated> {
        EventEnvelope(
            source: "/redress/intake", time: Date(), hotelID: AssignmentHarness.hotelA,
            data: ComplaintUpdated(complaintID: id, change: change, occurredAt: Date(), actor: EventActor(id: staffID, role: .staff), statusAfter: status))
    }

    static func withHandlers(_ body: @Sendable (StageStore, SchemaName, StatusHandler, ClassifiedAssignmentHandler) async throws -> Void) async throws {
        let service = RedressService.assignment.isolated()
        try await withMigratedSchema(of: service) { store, _ in
            _ = try await store.write { connection, logger in
                (try await OrganisationStore().apply(AssignmentHarness.organisation, on: connection, logger: logger), [])
            }
            try await body(store, service.schema, StatusHandler(assigner: Assigner()), ClassifiedAssignmentHandler(assigner: Assigner()))
        }
    }

    /// Before: the acknowledgement found no complaint and was dropped; the strategy then gave the
    /// complaint to someone else, who was told, and intake refused a second acknowledgement (409).
    @Test("acknowledged before it was classified: the first assignment goes to the one who acknowledged it")
    func acknowledgedFirst() async throws {
        try await Self.withHandlers { store, schema, status, classified in
            let id = UUID(), bo = "\(AssignmentHarness.hotelA)-HK-2"
            let early = try await handleDirectly(Self.updated(.acknowledged, of: id, by: bo, status: .acknowledged), with: status, store: store, schema: schema)
            #expect(early.isEmpty)
            let events = try await handleDirectly(try AssignmentHarness.classified(complaintID: id), with: classified, store: store, schema: schema)
            let assigned = try #require(events.first.map { try Topics.assigned.decode(Array($0.row.value.readableBytesView)) })
            #expect(assigned.data.assignee.staffID == bo)
            #expect(assigned.data.strategy == StatusHandler.handOver && assigned.data.reason == .manual)
            #expect(assigned.data.explanation == "Bo acknowledged it before it was classified")
        }
    }

    /// Not assigning it would leave a complaint the guest reopens later with nobody: it still gets an owner,
    /// and it does not count against their capacity while it stays resolved.
    @Test("resolved before it was classified: it still gets an owner, without counting against their capacity")
    func resolvedFirst() async throws {
        try await Self.withHandlers { store, schema, status, classified in
            let id = UUID(), bo = "\(AssignmentHarness.hotelA)-HK-2"
            _ = try await handleDirectly(
                Self.updated(.resolved(Resolution(text: "fixed at the desk", rootCause: "hvac_failure", isFirstContact: true)), of: id, by: bo, status: .resolved),
                with: status, store: store, schema: schema)
            let events = try await handleDirectly(try AssignmentHarness.classified(complaintID: id), with: classified, store: store, schema: schema)
            #expect(events.count == 1)
            let loads = try await store.read { connection, logger in
                try await AssignmentLedger().openLoads(hotelID: AssignmentHarness.hotelA, on: connection, logger: logger)
            }
            #expect(loads.values.reduce(0, +) == 0, "\(loads)")
        }
    }
}
