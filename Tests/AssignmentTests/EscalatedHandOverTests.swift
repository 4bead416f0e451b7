import Assignment
import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import HotelTime
import Testing

/// An acknowledgement of an escalated complaint hands it over only to someone at least as senior as the
/// owner: each escalation level fires once, so a junior taking it back would leave it without a senior
/// owner until the next level.
@Suite("Escalated complaint, late acknowledgement", .timeLimit(.minutes(2)))
struct EscalatedHandOverTests {
    static let a = AssignmentHarness.hotelA

    static func escalation(_ id: UUID, level: Int) -> EventEnvelope<ComplaintSLAEvent> {
        EventEnvelope(
            source: "/redress/sla-watcher", time: Date(), hotelID: a,
            data: ComplaintSLAEvent(
                complaintID: id, milestone: .escalated(Escalation(level: level, escalateTo: .departmentHead)),
                target: .acknowledge, severity: .moderate, deadline: Date(), occurredAt: Date()))
    }

    /// Before: Ana's acknowledgement, three minutes after level 1 gave the complaint to the head of
    /// Housekeeping, published a hand_over (version 3) back to Ana, still at level 1.
    @Test("the agent who let it escalate acknowledges late: the department head keeps it, nothing is published; a duty manager still takes it over")
    func juniorAcknowledgementKeepsOwner() async throws {
        try await ReclassificationTests.withHandlers { store, schema, status, classified in
            let id = UUID()
            let first = try ReclassificationTests.assigned(try await handleDirectly(
                try AssignmentHarness.classified(category: .cleanliness, complaintID: id), with: classified, store: store, schema: schema))
            #expect(first.first?.data.assignee.staffID == "\(Self.a)-HK-1")
            let escalated = try ReclassificationTests.assigned(try await handleDirectly(
                Self.escalation(id, level: 1), with: EscalationHandler(assigner: Assigner()), store: store, schema: schema))
            #expect(escalated.first?.data.assignee.staffID == "\(Self.a)-HK-H", "\(escalated.map(\.data.explanation))")

            let late = try ReclassificationTests.assigned(try await handleDirectly(
                ReclassificationTests.acknowledged(id, by: "\(Self.a)-HK-1"), with: status, store: store, schema: schema))
            #expect(late.isEmpty, "\(late.map(\.data.explanation))")
            #expect(try await ReclassificationTests.stored(id, store: store).staffID == "\(Self.a)-HK-H")

            // Someone as senior or more (the duty manager) still takes it over, at the level it has.
            let senior = try ReclassificationTests.assigned(try await handleDirectly(
                ReclassificationTests.acknowledged(id, by: "\(Self.a)-DM-1"), with: status, store: store, schema: schema))
            #expect(senior.map(\.data.assignee.staffID) == ["\(Self.a)-DM-1"])
            #expect(senior.first?.data.strategy == StatusHandler.handOver && senior.first?.data.escalationLevel == 1)
        }
    }

    /// The organisation with the head of Housekeeping (Cai) active or not, and a head of Engineering (Gu).
    static func organisation(headActive: Bool) -> Organisation {
        var organisation = ReclassificationTests.organisation
        let always = [Shift(days: Weekday.allCases, start: LocalTime("00:00")!, end: LocalTime("24:00")!)]
        organisation.hotels[0].staff.append(StaffMember(
            id: "\(a)-EN-H", name: "Gu", role: .departmentHead, departments: ["engineering"], languages: ["en"], capacity: 3, shifts: always))
        let head = organisation.hotels[0].staff.firstIndex { $0.id == "\(a)-HK-H" }!
        organisation.hotels[0].staff[head].active = headActive
        return organisation
    }

    static func apply(_ organisation: Organisation, store: StageStore) async throws {
        _ = try await store.write { connection, logger in (try await OrganisationStore().apply(organisation, on: connection, logger: logger), []) }
    }

    /// Before: Ana's acknowledgement was refused because the owner, Cai, is a department head, though Cai
    /// was set inactive: nobody active owned the level-1 complaint until a reopening.
    @Test("the owner of an escalated complaint is no longer active and an agent acknowledges: it goes up the chain to the duty manager")
    func inactiveOwnerGoesUpTheChain() async throws {
        try await ReclassificationTests.withHandlers(organisation: Self.organisation(headActive: true)) { store, schema, status, classified in
            let id = UUID()
            _ = try await handleDirectly(
                try AssignmentHarness.classified(category: .cleanliness, complaintID: id), with: classified, store: store, schema: schema)
            let escalated = try ReclassificationTests.assigned(try await handleDirectly(
                Self.escalation(id, level: 1), with: EscalationHandler(assigner: Assigner()), store: store, schema: schema))
            #expect(escalated.first?.data.assignee.staffID == "\(Self.a)-HK-H", "\(escalated.map(\.data.explanation))")
            // Cai stops working here; kept in the file with active: false while owning the complaint.
            try await Self.apply(Self.organisation(headActive: false), store: store)

            let late = try ReclassificationTests.assigned(try await handleDirectly(
                ReclassificationTests.acknowledged(id, by: "\(Self.a)-HK-1"), with: status, store: store, schema: schema))
            #expect(late.map(\.data.assignee.staffID) == ["\(Self.a)-DM-1"], "\(late.map(\.data.explanation))")
            #expect(late.first?.data.strategy == AssignmentPlanner.escalation && late.first?.data.escalationLevel == 1)
            #expect(late.first?.data.explanation?.hasPrefix("Ana acknowledged it; \(Self.a)-HK-H is no longer on the staff: escalation level 1") == true,
                    "\(late.map(\.data.explanation))")
            #expect(try await ReclassificationTests.stored(id, store: store).staffID == "\(Self.a)-DM-1")
        }
    }

    /// Before: Cai was refused (department head below the duty manager the escalation fell back to while
    /// no department head was on duty), though level 1 asks for the head of Housekeeping.
    @Test("escalated to the duty manager while no department head was on duty: the head of the complaint's department takes it over, another department's head does not")
    func departmentHeadOfTheLevelTakesOver() async throws {
        try await ReclassificationTests.withHandlers(organisation: Self.organisation(headActive: false)) { store, schema, status, classified in
            let id = UUID()
            _ = try await handleDirectly(
                try AssignmentHarness.classified(category: .cleanliness, complaintID: id), with: classified, store: store, schema: schema)
            let escalated = try ReclassificationTests.assigned(try await handleDirectly(
                Self.escalation(id, level: 1), with: EscalationHandler(assigner: Assigner()), store: store, schema: schema))
            #expect(escalated.first?.data.assignee.staffID == "\(Self.a)-DM-1", "\(escalated.map(\.data.explanation))")
            // Cai comes on shift.
            try await Self.apply(Self.organisation(headActive: true), store: store)

            let agent = try ReclassificationTests.assigned(try await handleDirectly(
                ReclassificationTests.acknowledged(id, by: "\(Self.a)-HK-1"), with: status, store: store, schema: schema))
            #expect(agent.isEmpty, "\(agent.map(\.data.explanation))")
            let otherHead = try ReclassificationTests.assigned(try await handleDirectly(
                ReclassificationTests.acknowledged(id, by: "\(Self.a)-EN-H"), with: status, store: store, schema: schema))
            #expect(otherHead.isEmpty, "\(otherHead.map(\.data.explanation))")
            #expect(try await ReclassificationTests.stored(id, store: store).staffID == "\(Self.a)-DM-1")

            let head = try ReclassificationTests.assigned(try await handleDirectly(
                ReclassificationTests.acknowledged(id, by: "\(Self.a)-HK-H"), with: status, store: store, schema: schema))
            #expect(head.map(\.data.assignee.staffID) == ["\(Self.a)-HK-H"], "\(head.map(\.data.explanation))")
            #expect(head.first?.data.strategy == StatusHandler.handOver && head.first?.data.escalationLevel == 1)
        }
    }

    /// Before (8a34411's first form): anyone with an entry at a lower level counted as someone the
    /// escalation took the complaint from. Cai owned it at level 0, the agent then took it over, and level 1
    /// (Cai off shift) went to the duty manager: Cai, back on shift, was refused as if level 1 had taken it
    /// from them, though the level asks for the head of Housekeeping.
    @Test("a department head who owned it before someone else took it over is not one the escalation took it from: back on shift, they take it over at level 1")
    func earlierOwnerIsNotEscalatedAway() async throws {
        try await ReclassificationTests.withHandlers(organisation: Self.organisation(headActive: true)) { store, schema, status, classified in
            let id = UUID()
            _ = try await handleDirectly(
                try AssignmentHarness.classified(category: .cleanliness, complaintID: id), with: classified, store: store, schema: schema)
            for staff in ["HK-H", "HK-1"] {
                let taken = try ReclassificationTests.assigned(try await handleDirectly(
                    ReclassificationTests.acknowledged(id, by: "\(Self.a)-\(staff)"), with: status, store: store, schema: schema))
                #expect(taken.map(\.data.assignee.staffID) == ["\(Self.a)-\(staff)"] && taken.first?.data.escalationLevel == 0,
                    "\(taken.map(\.data.explanation))")
            }
            // Cai goes off shift; level 1 passes over the agent who owns it, to the duty manager.
            try await Self.apply(Self.organisation(headActive: false), store: store)
            let escalated = try ReclassificationTests.assigned(try await handleDirectly(
                Self.escalation(id, level: 1), with: EscalationHandler(assigner: Assigner()), store: store, schema: schema))
            #expect(escalated.first?.data.assignee.staffID == "\(Self.a)-DM-1", "\(escalated.map(\.data.explanation))")
            try await Self.apply(Self.organisation(headActive: true), store: store)
            let head = try ReclassificationTests.assigned(try await handleDirectly(
                ReclassificationTests.acknowledged(id, by: "\(Self.a)-HK-H"), with: status, store: store, schema: schema))
            #expect(head.map(\.data.assignee.staffID) == ["\(Self.a)-HK-H"], "\(head.map(\.data.explanation))")
        }
    }

    /// Before: Cai, the head of Housekeeping, owned it at level 0 and let it run out; level 1 skipped
    /// them (no other head of Housekeeping) for the duty manager, and Cai's late acknowledgement was
    /// compared with the lower of the duty manager and the department head the level names: a hand_over
    /// back to Cai at level 1.
    @Test("the department head an escalation took it from acknowledges late: the duty manager keeps it; the general manager still takes it over")
    func departmentHeadItWasTakenFromDoesNotTakeItBack() async throws {
        try await ReclassificationTests.withHandlers { store, schema, status, classified in
            let id = UUID()
            _ = try await handleDirectly(
                try AssignmentHarness.classified(category: .cleanliness, complaintID: id), with: classified, store: store, schema: schema)
            // Cai takes it over at level 0 (no escalation yet), then lets the acknowledge deadline pass.
            let taken = try ReclassificationTests.assigned(try await handleDirectly(
                ReclassificationTests.acknowledged(id, by: "\(Self.a)-HK-H"), with: status, store: store, schema: schema))
            #expect(taken.map(\.data.assignee.staffID) == ["\(Self.a)-HK-H"] && taken.first?.data.escalationLevel == 0)
            let escalated = try ReclassificationTests.assigned(try await handleDirectly(
                Self.escalation(id, level: 1), with: EscalationHandler(assigner: Assigner()), store: store, schema: schema))
            #expect(escalated.first?.data.assignee.staffID == "\(Self.a)-DM-1", "\(escalated.map(\.data.explanation))")

            let late = try ReclassificationTests.assigned(try await handleDirectly(
                ReclassificationTests.acknowledged(id, by: "\(Self.a)-HK-H"), with: status, store: store, schema: schema))
            #expect(late.isEmpty, "\(late.map(\.data.explanation))")
            #expect(try await ReclassificationTests.stored(id, store: store).staffID == "\(Self.a)-DM-1")

            let senior = try ReclassificationTests.assigned(try await handleDirectly(
                ReclassificationTests.acknowledged(id, by: "\(Self.a)-GM-1"), with: status, store: store, schema: schema))
            #expect(senior.map(\.data.assignee.staffID) == ["\(Self.a)-GM-1"], "\(senior.map(\.data.explanation))")
            #expect(senior.first?.data.strategy == StatusHandler.handOver && senior.first?.data.escalationLevel == 1)
        }
    }

    /// Before: with no department head on duty, the duty manager who owned it at level 0 was skipped by
    /// level 1 for the general manager, and took it back by acknowledging late (duty manager above the
    /// department head the level names).
    @Test("the duty manager an escalation took it from acknowledges late: the general manager keeps it")
    func dutyManagerItWasTakenFromDoesNotTakeItBack() async throws {
        try await ReclassificationTests.withHandlers(organisation: Self.organisation(headActive: false)) { store, schema, status, classified in
            let id = UUID()
            _ = try await handleDirectly(
                try AssignmentHarness.classified(category: .cleanliness, complaintID: id), with: classified, store: store, schema: schema)
            let taken = try ReclassificationTests.assigned(try await handleDirectly(
                ReclassificationTests.acknowledged(id, by: "\(Self.a)-DM-1"), with: status, store: store, schema: schema))
            #expect(taken.map(\.data.assignee.staffID) == ["\(Self.a)-DM-1"] && taken.first?.data.escalationLevel == 0)
            let escalated = try ReclassificationTests.assigned(try await handleDirectly(
                Self.escalation(id, level: 1), with: EscalationHandler(assigner: Assigner()), store: store, schema: schema))
            #expect(escalated.first?.data.assignee.staffID == "\(Self.a)-GM-1", "\(escalated.map(\.data.explanation))")

            let late = try ReclassificationTests.assigned(try await handleDirectly(
                ReclassificationTests.acknowledged(id, by: "\(Self.a)-DM-1"), with: status, store: store, schema: schema))
            #expect(late.isEmpty, "\(late.map(\.data.explanation))")
            #expect(try await ReclassificationTests.stored(id, store: store).staffID == "\(Self.a)-GM-1")
        }
    }
}
