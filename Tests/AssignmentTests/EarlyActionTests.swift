import Assignment
import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import HotelTime
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

    /// Before: the acknowledgement of a complaint whose hotel assignment did not know yet was dropped
    /// (the handler returned before noting it), so once the hotel was added and the dead-lettered
    /// classification redriven, the strategy gave the complaint to someone else, and a later
    /// reclassification re-assigned it as if nobody had acknowledged it.
    @Test("acknowledged while its hotel was unknown: after the hotel is added and the classification redriven, the one who acknowledged it gets it and keeps it")
    func acknowledgedBeforeTheHotelExists() async throws {
        let newHotel = "NEW-01"
        let always = [Shift(days: Weekday.allCases, start: LocalTime("00:00")!, end: LocalTime("24:00")!)]
        let hotel = HotelOrganisation(
            id: newHotel, name: "New Hotel", timeZone: "Asia/Shanghai",
            departments: [
                Department(code: "housekeeping", name: "Housekeeping", categories: [.cleanliness, .amenities]),
                Department(code: "engineering", name: "Engineering", categories: [.maintenance]),
            ],
            staff: [
                StaffMember(id: "\(newHotel)-HK-1", name: "Ana", role: .agent, departments: ["housekeeping"], languages: ["en"], capacity: 2, shifts: always),
                StaffMember(id: "\(newHotel)-HK-2", name: "Bo", role: .agent, departments: ["housekeeping"], languages: ["zh-CN"], capacity: 2, shifts: always),
                StaffMember(id: "\(newHotel)-EN-1", name: "Fu", role: .agent, departments: ["engineering"], languages: ["en"], capacity: 3, shifts: always),
            ])
        try await Self.withHandlers { store, schema, status, classified in
            let id = UUID(), bo = "\(newHotel)-HK-2"
            var verdict = try AssignmentHarness.classified(hotel: newHotel, complaintID: id)
            verdict.data.classifiedAt = Date(timeIntervalSince1970: 1_796_000_100)
            // Dead-lettered: the hotel is not in the organisation yet.
            await #expect(throws: RejectedEvent.self) {
                _ = try await handleDirectly(verdict, with: classified, store: store, schema: schema)
            }
            var acknowledged = Self.updated(.acknowledged, of: id, by: bo, status: .acknowledged)
            acknowledged.hotelID = newHotel
            #expect(try await handleDirectly(acknowledged, with: status, store: store, schema: schema).isEmpty)
            // The operator adds the hotel (as PUT /v1/hotels/NEW-01 and its staff would), then redrives.
            let organisation = Organisation(hotels: AssignmentHarness.organisation.hotels + [hotel])
            _ = try await store.write { connection, logger in
                (try await OrganisationStore().apply(organisation, on: connection, logger: logger), [])
            }
            let redriven = try await handleDirectly(verdict, with: classified, store: store, schema: schema)
            let first = try #require(try redriven.first.map { try Topics.assigned.decode(Array($0.row.value.readableBytesView)) })
            #expect(first.data.assignee.staffID == bo, "\(first.data.assignee.staffID): \(first.data.explanation ?? "")")
            #expect(first.data.strategy == StatusHandler.handOver && first.data.reason == .manual)
            #expect(first.data.explanation == "Bo acknowledged it before it was classified")
            // A later verdict sending it to another department: acknowledged, so Bo keeps it.
            var newer = try AssignmentHarness.classified(hotel: newHotel, category: .maintenance, complaintID: id)
            newer.data.classifiedAt = Date(timeIntervalSince1970: 1_796_000_200)
            let moved = try #require(try await handleDirectly(newer, with: classified, store: store, schema: schema).first.map {
                try Topics.assigned.decode(Array($0.row.value.readableBytesView))
            })
            #expect(moved.data.assignee.staffID == bo, "\(moved.data.assignee.staffID): \(moved.data.explanation ?? "")")
            #expect(moved.data.strategy == ClassifiedAssignmentHandler.ownerKept && moved.data.reason == .departmentChanged)
            #expect(moved.data.department == "engineering")
        }
    }
}
