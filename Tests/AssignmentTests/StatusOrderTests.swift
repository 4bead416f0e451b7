import Assignment
import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import PostgresNIO
import Testing

/// Status updates (`complaints.updated.v1`) read out of order, as a redriven dead letter or an event from
/// an older build is: a status is applied only when its update is newer than the one stored, and nobody
/// takes over or is given a complaint that is no longer open.
@Suite("Status updates out of order", .timeLimit(.minutes(2)))
struct StatusOrderTests {
    static let a = AssignmentHarness.hotelA
    static let t0 = Date(timeIntervalSince1970: 1_796_001_000)

    static func update(
        _ id: UUID, _ change: ComplaintUpdated.Change, status: ComplaintStatus, at minute: Double, by actor: EventActor = EventActor(id: "guest", role: .guest)
    ) -> EventEnvelope<ComplaintUpdated> {
        EventEnvelope(
            source: "/redress/intake", time: Date(), hotelID: a,
            data: ComplaintUpdated(complaintID: id, change: change, occurredAt: t0.addingTimeInterval(minute * 60), actor: actor, statusAfter: status))
    }

    static func resolved(_ id: UUID, at minute: Double) -> EventEnvelope<ComplaintUpdated> {
        update(id, .resolved(Resolution(text: "done", rootCause: "housekeeping_miss", isFirstContact: true)), status: .resolved, at: minute)
    }

    /// The stored status and the open loads of hotel A.
    static func state(_ id: UUID, store: StageStore) async throws -> (status: String?, loads: [String: Int]) {
        try await store.read { connection, logger in
            var status: String?
            for try await value in try await connection.query("SELECT status FROM complaints WHERE complaint_id = \(id)", logger: logger)
                .decode(String.self) { status = value }
            return (status, try await AssignmentLedger().openLoads(hotelID: a, on: connection, logger: logger))
        }
    }

    /// Before: the redriven reopening stored the closed complaint as open (Ana's load back to 1 for
    /// ever), gave it afresh to someone else since Ana had left, and the redriven acknowledgement
    /// published a hand_over of the closed complaint to Cai.
    @Test("a reopening dead-lettered, then resolved and closed, then redriven: it stays closed, loads unchanged, nothing published")
    func redrivenReopeningAfterClose() async throws {
        try await ReclassificationTests.withHandlers { store, schema, status, classified in
            let id = UUID()
            let first = try ReclassificationTests.assigned(try await handleDirectly(
                try AssignmentHarness.classified(category: .cleanliness, complaintID: id), with: classified, store: store, schema: schema))
            #expect(first.first?.data.assignee.staffID == "\(Self.a)-HK-1")
            _ = try await handleDirectly(Self.resolved(id, at: 0), with: status, store: store, schema: schema)
            // Reopened at minute 1 and acknowledged by Cai (head of Housekeeping) at minute 2: both dead-lettered. Resolved and closed again.
            let reopened = Self.update(id, .reopened(Reopening(trigger: .guestRequest, reason: "still dirty")), status: .reopened, at: 1)
            let acknowledged = Self.update(id, .acknowledged, status: .acknowledged, at: 2, by: EventActor(id: "\(Self.a)-HK-H", role: .staff))
            _ = try await handleDirectly(Self.resolved(id, at: 3), with: status, store: store, schema: schema)
            _ = try await handleDirectly(Self.update(id, .closed, status: .closed, at: 4), with: status, store: store, schema: schema)
            // Ana leaves meanwhile (a closed complaint does not keep her on the staff).
            let organisation = {
                var organisation = ReclassificationTests.organisation
                organisation.hotels[0].staff[0].active = false
                return organisation
            }()
            _ = try await store.write { connection, logger in (try await OrganisationStore().apply(organisation, on: connection, logger: logger), []) }
            let before = try await Self.state(id, store: store)
            #expect(before.status == "closed")

            // The operator redrives the dead letters.
            let afterReopen = try ReclassificationTests.assigned(try await handleDirectly(reopened, with: status, store: store, schema: schema))
            #expect(afterReopen.isEmpty, "\(afterReopen.map(\.data.explanation))")
            let afterAcknowledge = try ReclassificationTests.assigned(try await handleDirectly(acknowledged, with: status, store: store, schema: schema))
            #expect(afterAcknowledge.isEmpty, "\(afterAcknowledge.map(\.data.explanation))")
            let after = try await Self.state(id, store: store)
            #expect(after.status == "closed")
            #expect(after.loads == before.loads, "\(after.loads)")
            #expect(try await ReclassificationTests.stored(id, store: store).staffID == "\(Self.a)-HK-1")

            // A real reopening, newer than the close, still counts and reassigns.
            let again = try ReclassificationTests.assigned(try await handleDirectly(
                Self.update(id, .reopened(Reopening(trigger: .guestRequest, reason: "dirty again")), status: .reopened, at: 5),
                with: status, store: store, schema: schema))
            #expect(try await Self.state(id, store: store).status == "open")
            #expect(again.count == 1 && again.first?.data.assignee.staffID != "\(Self.a)-HK-1", "\(again.map(\.data.explanation))")
        }
    }

    /// Before: a reopening sharing the resolution's millisecond (a script resolving and reopening) was
    /// ignored: stored resolved while intake showed it reopened, Ana's load not counting it.
    @Test("resolved and reopened in the same millisecond, read in that order: it is open again and counts against its owner")
    func reopenedAtTheSameInstant() async throws {
        try await ReclassificationTests.withHandlers { store, schema, status, classified in
            let id = UUID()
            _ = try await handleDirectly(
                try AssignmentHarness.classified(category: .cleanliness, complaintID: id), with: classified, store: store, schema: schema)
            _ = try await handleDirectly(Self.resolved(id, at: 0), with: status, store: store, schema: schema)
            #expect(try await Self.state(id, store: store).status == "resolved")
            _ = try await handleDirectly(
                Self.update(id, .reopened(Reopening(trigger: .guestRequest, reason: "still dirty")), status: .reopened, at: 0),
                with: status, store: store, schema: schema)
            let after = try await Self.state(id, store: store)
            #expect(after.status == "open")
            #expect(after.loads["\(Self.a)-HK-1"] == 1, "\(after.loads)")
            // An older update read later (redriven) still changes nothing.
            _ = try await handleDirectly(Self.resolved(id, at: -1), with: status, store: store, schema: schema)
            #expect(try await Self.state(id, store: store).status == "open")
        }
    }
}
