import Assignment
import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import HotelTime
import NIOCore
import PostgresNIO
import Testing

/// Verdicts on `complaints.classified.v1` (the first classification and every reclassification) read in
/// any order: the newest one's facts hold, and a newer verdict that sends the complaint elsewhere moves it
/// while nobody has acknowledged it.
@Suite("Reclassification", .timeLimit(.minutes(3)))
struct ReclassificationTests {
    static let a = AssignmentHarness.hotelA
    static let t1 = Date(timeIntervalSince1970: 1_796_000_100)
    static let t2 = Date(timeIntervalSince1970: 1_796_000_200)

    /// The harness's hotels, with an engineer on shift around the clock at hotel A.
    static var organisation: Organisation {
        var organisation = AssignmentHarness.organisation
        let always = [Shift(days: Weekday.allCases, start: LocalTime("00:00")!, end: LocalTime("24:00")!)]
        organisation.hotels[0].staff.append(StaffMember(
            id: "\(a)-EN-1", name: "Fu", role: .agent, departments: ["engineering"], languages: ["en"], capacity: 3, shifts: always))
        return organisation
    }

    static func verdict(
        _ id: UUID, _ category: ComplaintCategory, at classifiedAt: Date, vip: Bool = false
    ) throws -> EventEnvelope<ComplaintClassified> {
        var event = try AssignmentHarness.classified(category: category, vip: vip, complaintID: id)
        event.data.classifiedAt = classifiedAt
        event.time = classifiedAt
        return event
    }

    static func acknowledged(_ id: UUID, by staffID: String) -> EventEnvelope<ComplaintUpdated> {
        EventEnvelope(
            source: "/redress/intake", time: Date(), hotelID: a,
            data: ComplaintUpdated(complaintID: id, change: .acknowledged, occurredAt: Date(), actor: EventActor(id: staffID, role: .staff), statusAfter: .acknowledged))
    }

    static func withHandlers(
        organisation: Organisation = Self.organisation, assigner: Assigner = Assigner(),
        _ body: @Sendable (StageStore, SchemaName, StatusHandler, ClassifiedAssignmentHandler) async throws -> Void
    ) async throws {
        let service = RedressService.assignment.isolated()
        try await withMigratedSchema(of: service) { store, _ in
            _ = try await store.write { connection, logger in
                (try await OrganisationStore().apply(organisation, on: connection, logger: logger), [])
            }
            try await body(store, service.schema, StatusHandler(assigner: assigner), ClassifiedAssignmentHandler(assigner: assigner))
        }
    }

    static func assigned(_ events: [OutgoingEvent]) throws -> [EventEnvelope<ComplaintAssigned>] {
        try events.map { try Topics.assigned.decode(Array($0.row.value.readableBytesView)) }
    }

    /// The complaint's stored category, department and owner.
    static func stored(_ id: UUID, store: StageStore) async throws -> (category: String?, department: String?, staffID: String?) {
        try await store.read { connection, logger in
            let rows = try await connection.query(
                "SELECT category, department, staff_id FROM complaints WHERE complaint_id = \(id)", logger: logger)
            for try await row in rows.decode((String?, String?, String?).self) { return row }
            return (nil, nil, nil)
        }
    }

    /// Before: the older verdict, read last, overwrote the newer category (and with it what an escalation
    /// or a reopening would plan from).
    @Test("an older verdict read after a newer one changes nothing; the same verdict again changes nothing")
    func olderVerdictIgnored() async throws {
        try await Self.withHandlers { store, schema, _, classified in
            let id = UUID()
            let newer = try Self.verdict(id, .maintenance, at: Self.t2)
            let first = try Self.assigned(try await handleDirectly(newer, with: classified, store: store, schema: schema))
            #expect(first.map(\.data.department) == ["engineering"])
            // The older verdict (a replay, a late read) arrives second.
            let older = try Self.assigned(try await handleDirectly(
                try Self.verdict(id, .cleanliness, at: Self.t1), with: classified, store: store, schema: schema))
            #expect(older.isEmpty)
            #expect(try await Self.stored(id, store: store).category == "maintenance")
            // The newer verdict again, under another event id: nothing moves either.
            var repeated = newer
            repeated.id = UUID()
            #expect(try await handleDirectly(repeated, with: classified, store: store, schema: schema).isEmpty)
            let stored = try await Self.stored(id, store: store)
            #expect(stored.category == "maintenance" && stored.department == "engineering" && stored.staffID == "\(Self.a)-EN-1", "\(stored)")
        }
    }

    /// Before: a reclassification refreshed the facts and kept the owner, so a complaint moved to
    /// engineering stayed with a housekeeper nobody had told otherwise.
    @Test("a newer verdict naming another department moves an unacknowledged complaint there, through the planner, saying why")
    func reclassifiedMoves() async throws {
        try await Self.withHandlers { store, schema, _, classified in
            let id = UUID()
            let initial = try Self.assigned(try await handleDirectly(
                try Self.verdict(id, .cleanliness, at: Self.t1), with: classified, store: store, schema: schema))
            #expect(initial.first?.data.department == "housekeeping")
            let moved = try Self.assigned(try await handleDirectly(
                try Self.verdict(id, .maintenance, at: Self.t2), with: classified, store: store, schema: schema))
            let event = try #require(moved.first, "a re-assignment")
            #expect(moved.count == 1)
            #expect(event.data.department == "engineering")
            #expect(event.data.assignee.staffID == "\(Self.a)-EN-1")
            #expect(event.data.reason == .manual)
            #expect(event.data.strategy == "least_loaded")
            #expect(event.data.category == .maintenance)
            #expect(event.data.explanation?.hasPrefix("reclassified from housekeeping to engineering before anyone acknowledged it: least loaded of 1 on duty in Engineering") == true,
                    "\(event.data.explanation ?? "")")
            let stored = try await Self.stored(id, store: store)
            #expect(stored.department == "engineering" && stored.staffID == "\(Self.a)-EN-1", "\(stored)")
            #expect(try await store.read { connection, logger in
                try await connection.query("SELECT count(*)::int FROM assignments WHERE complaint_id = \(id)", logger: logger).collect().first?.decode(Int.self)
            } == 2)
        }
    }

    @Test("a newer verdict making it VIP moves it from an agent to someone senior enough in the same department")
    func reclassifiedVIPMoves() async throws {
        try await Self.withHandlers { store, schema, _, classified in
            let id = UUID()
            let initial = try Self.assigned(try await handleDirectly(
                try Self.verdict(id, .cleanliness, at: Self.t1), with: classified, store: store, schema: schema))
            #expect(initial.first?.data.assignee.role == .staff)
            let moved = try Self.assigned(try await handleDirectly(
                try Self.verdict(id, .cleanliness, at: Self.t2, vip: true), with: classified, store: store, schema: schema))
            let event = try #require(moved.first, "a re-assignment")
            #expect(event.data.assignee.staffID == "\(Self.a)-HK-H")
            #expect(event.data.explanation?.hasPrefix("reclassified as VIP before anyone acknowledged it; ") == true, "\(event.data.explanation ?? "")")
        }
    }

    /// Before 9882cab: the department stayed housekeeping, so the escalation went to the head of
    /// Housekeeping, who cannot send a technician, and never to the head of Engineering. Before the move
    /// was published: nothing was, so the SLA watcher kept Housekeeping's calendar and the notifier and the
    /// metrics showed Housekeeping until an escalation (if any) came.
    @Test("once acknowledged, a reclassification keeps the owner, moves it to the new department and publishes that (once), and its escalation goes up that department's chain")
    func acknowledgedKeepsOwner() async throws {
        var organisation = Self.organisation
        let always = [Shift(days: Weekday.allCases, start: LocalTime("00:00")!, end: LocalTime("24:00")!)]
        organisation.hotels[0].staff.append(StaffMember(
            id: "\(Self.a)-EN-H", name: "Gu", role: .departmentHead, departments: ["engineering"], languages: ["en"], capacity: 3, shifts: always))
        try await Self.withHandlers(organisation: organisation) { store, schema, status, classified in
            let id = UUID()
            let initial = try Self.assigned(try await handleDirectly(
                try Self.verdict(id, .cleanliness, at: Self.t1), with: classified, store: store, schema: schema))
            let owner = try #require(initial.first?.data.assignee.staffID)
            #expect(initial.first?.data.department == "housekeeping")
            #expect(try await handleDirectly(Self.acknowledged(id, by: owner), with: status, store: store, schema: schema).isEmpty)
            let newer = try Self.verdict(id, .maintenance, at: Self.t2)
            let after = try Self.assigned(try await handleDirectly(newer, with: classified, store: store, schema: schema))
            #expect(after.count == 1, "the move is published")
            let move = try #require(after.first)
            #expect(move.data.department == "engineering" && move.data.assignee.staffID == owner, "the owner keeps it")
            #expect(move.data.reason == .departmentChanged && move.data.strategy == "owner_kept" && move.data.escalationLevel == 0)
            #expect(move.data.category == .maintenance)
            #expect(move.data.explanation == "reclassified from housekeeping to engineering after it was acknowledged: \(initial[0].data.assignee.name) keeps it, now in Engineering",
                    "\(move.data.explanation ?? "")")
            let stored = try await Self.stored(id, store: store)
            #expect(stored.category == "maintenance" && stored.department == "engineering" && stored.staffID == owner, "\(stored)")
            // The same verdict again under another event id (a redelivery after the inbox forgot it): nothing more.
            var repeated = newer
            repeated.id = UUID()
            #expect(try await handleDirectly(repeated, with: classified, store: store, schema: schema).isEmpty)
            let history = try #require(try await store.read { connection, logger in
                try await AssignmentLedger().history(of: id, on: connection, logger: logger)
            })
            #expect(history.entries.map(\.reason) == [.initial, .departmentChanged])
            #expect(history.entries.map(\.department) == ["housekeeping", "engineering"])
            #expect(history.entries.last?.eventID == move.id, "the history names the event that announced it")

            let escalation = EventEnvelope(
                source: "/redress/sla-watcher", time: Date(), hotelID: Self.a,
                data: ComplaintSLAEvent(
                    complaintID: id, milestone: .escalated(Escalation(level: 1, escalateTo: .departmentHead)),
                    target: .resolve, severity: .moderate, deadline: Date(), occurredAt: Date()))
            let escalated = try Self.assigned(try await handleDirectly(
                escalation, with: EscalationHandler(assigner: Assigner()), store: store, schema: schema))
            let event = try #require(escalated.first)
            #expect(event.data.department == "engineering")
            #expect(event.data.assignee.staffID == "\(Self.a)-EN-H")
            #expect(event.data.explanation == "escalation level 1: department head of Engineering on duty", "\(event.data.explanation ?? "")")

            // Escalated, then reclassified back: the head of Engineering keeps it at level 1, in Housekeeping.
            let back = try Self.assigned(try await handleDirectly(
                try Self.verdict(id, .cleanliness, at: Self.t2.addingTimeInterval(100)), with: classified, store: store, schema: schema))
            #expect(back.map(\.data.department) == ["housekeeping"])
            #expect(back.first?.data.assignee.staffID == "\(Self.a)-EN-H" && back.first?.data.escalationLevel == 1)
            #expect(back.first?.data.explanation?.hasPrefix("reclassified from engineering to housekeeping after it was acknowledged: Gu keeps it, now in Housekeeping") == true,
                    "\(back.first?.data.explanation ?? "")")
        }
    }

    /// An owner deleted from the staff once the complaint was resolved: the move still names them, as the
    /// history last has them (their name, their role), and the stored owner stays.
    @Test("a resolved complaint reclassified after its owner left the staff moves department under the owner's last known name")
    func resolvedWithOwnerGone() async throws {
        try await Self.withHandlers { store, schema, status, classified in
            let id = UUID()
            let initial = try Self.assigned(try await handleDirectly(
                try Self.verdict(id, .cleanliness, at: Self.t1), with: classified, store: store, schema: schema))
            let owner = try #require(initial.first?.data.assignee)
            let resolved = EventEnvelope(
                source: "/redress/intake", time: Date(), hotelID: Self.a,
                data: ComplaintUpdated(
                    complaintID: id, change: .resolved(Resolution(text: "Cleaned", rootCause: "missed", isFirstContact: true)), occurredAt: Date(),
                    actor: EventActor(id: owner.staffID, role: .staff), statusAfter: .resolved))
            #expect(try await handleDirectly(resolved, with: status, store: store, schema: schema).isEmpty)
            var smaller = Self.organisation
            smaller.hotels[0].staff.removeAll { $0.id == owner.staffID }
            let organisation = smaller
            _ = try await store.write { connection, logger in
                (try await OrganisationStore().apply(organisation, on: connection, logger: logger), [])
            }
            let moved = try Self.assigned(try await handleDirectly(
                try Self.verdict(id, .maintenance, at: Self.t2), with: classified, store: store, schema: schema))
            #expect(moved.count == 1)
            #expect(moved.first?.data.assignee == owner)
            #expect(moved.first?.data.department == "engineering" && moved.first?.data.reason == .departmentChanged)
            #expect(moved.first?.data.explanation?.hasPrefix("reclassified from housekeeping to engineering after it was resolved") == true,
                    "\(moved.first?.data.explanation ?? "")")
        }
    }

    /// Before migration 0004 only acknowledgements made before the first assignment were kept: such a
    /// complaint may have been acknowledged since, so it keeps its owner as it always did.
    @Test("a complaint stored before acknowledgements were recorded counts as acknowledged and keeps its owner")
    func storedBeforeAcknowledgementsWereRecorded() async throws {
        try await Self.withHandlers { store, schema, _, classified in
            let id = UUID()
            let initial = try Self.assigned(try await handleDirectly(
                try Self.verdict(id, .cleanliness, at: Self.t1), with: classified, store: store, schema: schema))
            let owner = try #require(initial.first?.data.assignee.staffID)
            try await store.write { connection, logger in
                try await connection.query("UPDATE complaints SET acknowledgement_known = false WHERE complaint_id = \(id)", logger: logger)
                return ((), [])
            }
            let moved = try Self.assigned(try await handleDirectly(
                try Self.verdict(id, .maintenance, at: Self.t2), with: classified, store: store, schema: schema))
            #expect(moved.map(\.data.reason) == [.departmentChanged] && moved.first?.data.assignee.staffID == owner)
            let stored = try await Self.stored(id, store: store)
            #expect(stored.category == "maintenance" && stored.staffID == owner, "\(stored)")
        }
    }

    @Test("end to end: the department move of an acknowledged complaint is published through the outbox, once, with its owner")
    func departmentMovePublishedThroughTheOutbox() async throws {
        try await AssignmentHarness.run(organisation: Self.organisation) { harness in
            let id = UUID()
            try await harness.publish([try Self.verdict(id, .cleanliness, at: Self.t1)], on: harness.topics.classified)
            let owner = try #require(try await harness.assigned(1).first?.data.assignee)
            try await harness.publish([Self.acknowledged(id, by: owner.staffID)], on: harness.topics.updated)
            // The acknowledgement comes on another topic: the verdict waits until it is applied.
            #expect(await eventually(timeout: .seconds(30)) {
                (try? await harness.count("SELECT count(*)::int FROM §.complaints WHERE acknowledged_at IS NOT NULL")) == 1
            })
            let newer = try Self.verdict(id, .maintenance, at: Self.t2)
            var again = newer
            again.id = UUID()
            try await harness.publish([newer, again], on: harness.topics.classified)
            let events = try await harness.assigned(2)
            #expect(events.map(\.data.reason) == [.initial, .departmentChanged])
            #expect(events.last?.data.department == "engineering" && events.last?.data.assignee == owner)
            let read = await eventually(timeout: .seconds(30)) {
                (try? await harness.count("SELECT count(*)::int FROM §.processed_events")) == 4
            }
            #expect(read)
            #expect(try await harness.count("SELECT count(*)::int FROM §.assignments") == 2, "the repeated verdict moves nothing twice")
        }
    }

    @Test("end to end: the re-assignment of a reclassified complaint is published like any assignment, once")
    func publishedThroughTheOutbox() async throws {
        try await AssignmentHarness.run(organisation: Self.organisation) { harness in
            let id = UUID()
            try await harness.publish([try Self.verdict(id, .cleanliness, at: Self.t1)], on: harness.topics.classified)
            _ = try await harness.assigned(1)
            let newer = try Self.verdict(id, .maintenance, at: Self.t2)
            var older = try Self.verdict(id, .cleanliness, at: Self.t1)
            older.id = UUID()
            // The newer verdict twice and the first one replayed after it (one partition: this order).
            try await harness.publish([newer, newer, older], on: harness.topics.classified)
            let events = try await harness.assigned(2)
            #expect(events.map(\.data.department) == ["housekeeping", "engineering"])
            #expect(events.last?.data.reason == .manual)
            // All three read (the inbox holds every event id): still two assignments, the newer facts kept.
            let read = await eventually(timeout: .seconds(30)) {
                let facts = try? await harness.count("SELECT count(*)::int FROM §.complaints WHERE classified_at IS NOT NULL AND category = 'maintenance'")
                let inbox = try? await harness.count("SELECT count(*)::int FROM §.processed_events")
                return facts == 1 && inbox == 3
            }
            #expect(read)
            #expect(try await harness.count("SELECT count(*)::int FROM §.assignments") == 2)
        }
    }
}
