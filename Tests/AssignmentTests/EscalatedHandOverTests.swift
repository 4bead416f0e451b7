import Assignment
import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
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
}
