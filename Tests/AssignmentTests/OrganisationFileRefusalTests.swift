import Assignment
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing

/// A changed organisation file applied at start that leaves out staff who still own open complaints is
/// refused, as `DELETE …/staff/{id}` refuses them (409): the organisation before stays in force.
@Suite("Organisation file dropping owners", .timeLimit(.minutes(2)))
struct OrganisationFileRefusalTests {
    static let a = AssignmentHarness.hotelA
    static let b = AssignmentHarness.hotelB

    static func withSchema(_ body: @Sendable (StageStore) async throws -> Void) async throws {
        let service = RedressService.assignment.isolated()
        try await withMigratedSchema(of: service) { store, _ in
            _ = try await store.write { connection, logger in
                (try await OrganisationStore().apply(AssignmentHarness.organisation, on: connection, logger: logger), [])
            }
            try await body(store)
        }
    }

    /// Gives `staffID` an open complaint at `hotel`, as an assignment would have.
    static func openComplaint(owner staffID: String, hotel: String = a, store: StageStore) async throws {
        try await store.write { connection, logger in
            try await connection.query("""
                INSERT INTO complaints (complaint_id, hotel_id, status, department, staff_id, version)
                VALUES (\(UUID()), \(hotel), 'open', 'housekeeping', \(staffID), 1)
                """, logger: logger)
            return ((), [])
        }
    }

    static func staffIDs(_ hotel: String, store: StageStore) async throws -> [String] {
        try await store.read { connection, logger in
            try await OrganisationStore().read(hotel, on: connection, logger: logger)?.staff.map(\.id) ?? []
        }
    }

    /// The file without `staffID` at hotel A, and with a change at hotel B.
    static func without(_ staffID: String) -> Organisation {
        var file = AssignmentHarness.organisation
        file.hotels[0].staff.removeAll { $0.id == staffID }
        file.hotels[1].staff[0].capacity = 9
        return file
    }

    /// Before: the file was applied and the staff member deleted with a warning; their open complaints
    /// stayed with someone no longer on the staff, unseen until an escalation.
    @Test("a file dropping someone who owns open complaints is not applied: they, and every other hotel, stay as they were")
    func droppedOwnerKept() async throws {
        try await Self.withSchema { store in
            let owner = "\(Self.a)-HK-1"
            try await Self.openComplaint(owner: owner, store: store)
            let before = try await Self.staffIDs(Self.a, store: store)
            _ = try? await store.write { connection, logger in
                (try await OrganisationStore().apply(Self.without(owner), on: connection, logger: logger), [])
            }
            #expect(try await Self.staffIDs(Self.a, store: store) == before)
            let capacity = try await store.read { connection, logger in
                try await OrganisationStore().read(Self.b, on: connection, logger: logger)?.member("\(Self.b)-HK-1")?.capacity
            }
            #expect(capacity == 2, "hotel B's change is refused with the rest of the file")
            // The digests were left alone: the file as before is still the one applied.
            let again = try await store.write { connection, logger in
                (try await OrganisationStore().apply(AssignmentHarness.organisation, on: connection, logger: logger), [])
            }
            #expect(again == .init(applied: [], unchanged: [Self.a, Self.b]))
        }
    }

    @Test("the refusal names the staff and their open complaints in an error, and the service keeps the organisation before")
    func refusalReported() async throws {
        try await Self.withSchema { store in
            let owner = "\(Self.a)-HK-1"
            try await Self.openComplaint(owner: owner, store: store)
            try await Self.openComplaint(owner: owner, store: store)
            // Someone without open complaints (or whose complaints are resolved) may go.
            try await Self.openComplaint(owner: "\(Self.a)-HK-2", store: store)
            try await store.write { connection, logger in
                try await connection.query("UPDATE complaints SET status = 'resolved' WHERE staff_id = \("\(Self.a)-HK-2")", logger: logger)
                return ((), [])
            }
            let records = CapturedLogs()
            let logger = Logger(label: "test") { _ in records }
            let outcome = try await AssignmentService.applyOrganisationFile(Self.without(owner), store: store, logger: logger)
            guard case .refused(let refused) = outcome else {
                Issue.record("applied: \(outcome)")
                return
            }
            #expect(refused.owners == [.init(hotelID: Self.a, staffID: owner, openComplaints: 2)])
            let error = try #require(records.entries.first { $0.level == .error }, "\(records.entries)")
            #expect(error.message == "organisation file refused; the previous organisation stays in force")
            #expect(error.metadata["assignment.staff"] == "\(Self.a) \(owner) (2 open)", "\(error.metadata)")
            #expect(error.metadata["error"]?.contains("keep them in the file with active: false") == true)
            #expect(try await Self.staffIDs(Self.a, store: store).contains(owner))

            let dropsHK2 = AssignmentHarness.organisation.hotels.map { hotel in
                var hotel = hotel
                hotel.staff.removeAll { $0.id == "\(Self.a)-HK-2" }
                return hotel
            }
            let applied = try await AssignmentService.applyOrganisationFile(Organisation(hotels: dropsHK2), store: store, logger: logger)
            #expect(applied == .applied(.init(applied: [Self.a], unchanged: [Self.b])))
            #expect(try await !Self.staffIDs(Self.a, store: store).contains("\(Self.a)-HK-2"))
        }
    }
}
