import Assignment
import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import PostgresNIO
import Testing

/// A classification or a status update naming another hotel than the complaint's is dead-lettered (a
/// ``RejectedEvent``) and changes nothing, as an escalation naming another hotel always was.
@Suite("Events naming another hotel", .timeLimit(.minutes(2)))
struct WrongHotelTests {
    static let a = AssignmentHarness.hotelA
    static let b = AssignmentHarness.hotelB

    static func count(_ sql: String, _ id: UUID, store: StageStore) async throws -> Int {
        try await store.read { connection, logger in
            try await connection.query(PostgresQuery(unsafeSQL: sql, binds: {
                var binds = PostgresBindings()
                binds.append(id)
                return binds
            }()), logger: logger).collect().first?.decode(Int.self) ?? 0
        }
    }

    /// Before: the verdict naming hotel B was stored on hotel A's complaint (category maintenance) and
    /// moved it to hotel B's duty manager, published as a manual assignment.
    @Test("a newer verdict naming another hotel: dead-lettered, nothing stored, no assignment")
    func classificationOfAnotherHotel() async throws {
        try await ReclassificationTests.withHandlers { store, schema, _, classified in
            let id = UUID()
            let first = try ReclassificationTests.assigned(try await handleDirectly(
                try ReclassificationTests.verdict(id, .cleanliness, at: ReclassificationTests.t1), with: classified, store: store, schema: schema))
            #expect(first.first?.data.assignee.staffID == "\(Self.a)-HK-1")
            var other = try AssignmentHarness.classified(hotel: Self.b, category: .maintenance, complaintID: id)
            other.data.classifiedAt = ReclassificationTests.t2
            let error = await #expect(throws: RejectedEvent.self) {
                try await handleDirectly(other, with: classified, store: store, schema: schema)
            }
            #expect(error?.description.contains("names hotel \(Self.b), but the complaint is \(Self.a)'s") == true, "\(error.map { "\($0)" } ?? "")")
            let stored = try await ReclassificationTests.stored(id, store: store)
            #expect(stored.category == "cleanliness" && stored.staffID == "\(Self.a)-HK-1", "\(stored)")
            #expect(try await Self.count("SELECT count(*)::int FROM assignments WHERE complaint_id = $1", id, store: store) == 1)
        }
    }

    /// Before: hotel B's `resolved` resolved hotel A's complaint (Ana's load dropped).
    @Test("a status update naming another hotel: dead-lettered, the status unchanged")
    func statusOfAnotherHotel() async throws {
        try await ReclassificationTests.withHandlers { store, schema, status, classified in
            let id = UUID()
            _ = try await handleDirectly(
                try ReclassificationTests.verdict(id, .cleanliness, at: ReclassificationTests.t1), with: classified, store: store, schema: schema)
            var resolved = StatusOrderTests.resolved(id, at: 10)
            resolved.hotelID = Self.b
            await #expect(throws: RejectedEvent.self) {
                try await handleDirectly(resolved, with: status, store: store, schema: schema)
            }
            #expect(try await Self.count("SELECT count(*)::int FROM complaints WHERE complaint_id = $1 AND status = 'open'", id, store: store) == 1)
        }
    }
}
