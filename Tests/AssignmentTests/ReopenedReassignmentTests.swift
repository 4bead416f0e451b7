import Assignment
import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing

/// A reopened complaint whose owner has left the staff is assigned afresh by its department's strategy,
/// as a first assignment would be: round robin goes on from the department's turn, and a dispatcher
/// department (the dispatcher is not called inside the transaction) gets its fallback with that reason;
/// an escalated one goes up the hotel's chain at the level it has.
@Suite("Reopened complaint, owner gone", .timeLimit(.minutes(2)))
struct ReopenedReassignmentTests {
    static let a = AssignmentHarness.hotelA

    /// The harness's hotels with hotel A's housekeeping on `strategy`.
    static func organisation(housekeeping strategy: String, withoutAna: Bool = false) -> Organisation {
        var organisation = AssignmentHarness.organisation
        organisation.hotels[0].departments[0].strategy = strategy
        if withoutAna { organisation.hotels[0].staff[0].active = false }
        return organisation
    }

    static func update(_ id: UUID, _ change: ComplaintUpdated.Change, status: ComplaintStatus) -> EventEnvelope<ComplaintUpdated> {
        EventEnvelope(
            source: "/redress/intake", time: Date(), hotelID: a,
            data: ComplaintUpdated(complaintID: id, change: change, occurredAt: Date(), actor: EventActor(id: "guest", role: .guest), statusAfter: status))
    }

    /// Assigns a cleanliness complaint under `strategy`, resolves it, makes its owner Ana (HK-1) inactive
    /// with housekeeping on `reopenStrategy`, and reopens it: the reassignment it published.
    static func reopenAfterAnaLeft(
        strategy: String, reopenStrategy: String? = nil, assigner: Assigner = Assigner(), before: @Sendable (StageStore, SchemaName, ClassifiedAssignmentHandler) async throws -> Void = { _, _, _ in }
    ) async throws -> EventEnvelope<ComplaintAssigned> {
        let result = Mutex<EventEnvelope<ComplaintAssigned>?>(nil)
        try await ReclassificationTests.withHandlers(organisation: organisation(housekeeping: strategy), assigner: assigner) { store, schema, status, classified in
            let id = UUID()
            let first = try ReclassificationTests.assigned(try await handleDirectly(
                try AssignmentHarness.classified(category: .cleanliness, complaintID: id), with: classified, store: store, schema: schema))
            #expect(first.first?.data.assignee.staffID == "\(a)-HK-1", "\(first.map(\.data.explanation))")
            try await before(store, schema, classified)
            _ = try await handleDirectly(
                update(id, .resolved(Resolution(text: "done", rootCause: "housekeeping_miss", isFirstContact: true)), status: .resolved),
                with: status, store: store, schema: schema)
            _ = try await store.write { connection, logger in
                (try await OrganisationStore().apply(organisation(housekeeping: reopenStrategy ?? strategy, withoutAna: true), on: connection, logger: logger), [])
            }
            let reopened = try ReclassificationTests.assigned(try await handleDirectly(
                update(id, .reopened(Reopening(trigger: .staffDecision, reason: "still dirty")), status: .reopened),
                with: status, store: store, schema: schema))
            result.withLock { $0 = reopened.first }
        }
        return try #require(result.withLock { $0 }, "a reassignment")
    }

    /// Before: the planner was not given the turn, so round robin began again at the first by staff id
    /// (Bo, HK-2, who had just had the turn) while saying "next in turn".
    @Test("round robin: the reassignment takes the department's next turn")
    func roundRobinTurn() async throws {
        let reassigned = try await Self.reopenAfterAnaLeft(strategy: RoundRobinStrategy.name) { store, schema, classified in
            // A second complaint: Bo (HK-2) has the turn now.
            let second = try ReclassificationTests.assigned(try await handleDirectly(
                try AssignmentHarness.classified(category: .cleanliness), with: classified, store: store, schema: schema))
            #expect(second.first?.data.assignee.staffID == "\(Self.a)-HK-2")
        }
        #expect(reassigned.data.strategy == RoundRobinStrategy.name)
        #expect(reassigned.data.assignee.staffID == "\(Self.a)-HK-H", "\(reassigned.data.explanation ?? "")")
        #expect(reassigned.data.explanation?.hasPrefix("reopened; \(Self.a)-HK-1 is no longer on the staff") == true)
    }

    /// Before: the escalated complaint went to the least loaded agent of Housekeeping (Ana) while keeping
    /// escalation level 1, so the chain it had climbed was undone and no level would fire for it again.
    @Test("escalated, resolved, its department head left, reopened: it goes up the chain at its level, not to an agent")
    func escalatedGoesUpTheChain() async throws {
        try await ReclassificationTests.withHandlers(organisation: Self.organisation(housekeeping: LeastLoadedStrategy.name)) { store, schema, status, classified in
            let id = UUID()
            let first = try ReclassificationTests.assigned(try await handleDirectly(
                try AssignmentHarness.classified(category: .cleanliness, complaintID: id), with: classified, store: store, schema: schema))
            #expect(first.first?.data.assignee.staffID == "\(Self.a)-HK-1")
            let escalated = try ReclassificationTests.assigned(try await handleDirectly(
                EscalatedHandOverTests.escalation(id, level: 1), with: EscalationHandler(assigner: Assigner()), store: store, schema: schema))
            #expect(escalated.first?.data.assignee.staffID == "\(Self.a)-HK-H")
            _ = try await handleDirectly(
                Self.update(id, .resolved(Resolution(text: "done", rootCause: "housekeeping_miss", isFirstContact: true)), status: .resolved),
                with: status, store: store, schema: schema)
            // Cai, the head of Housekeeping, leaves.
            let withoutHead = {
                var organisation = Self.organisation(housekeeping: LeastLoadedStrategy.name)
                organisation.hotels[0].staff[2].active = false
                return organisation
            }()
            _ = try await store.write { connection, logger in
                (try await OrganisationStore().apply(withoutHead, on: connection, logger: logger), [])
            }
            let reopened = try ReclassificationTests.assigned(try await handleDirectly(
                Self.update(id, .reopened(Reopening(trigger: .staffDecision, reason: "still dirty")), status: .reopened),
                with: status, store: store, schema: schema))
            let event = try #require(reopened.first, "a reassignment")
            #expect(event.data.assignee.staffID == "\(Self.a)-DM-1", "\(event.data.explanation ?? "")")
            #expect(event.data.escalationLevel == 1 && event.data.reason == .manual && event.data.strategy == AssignmentPlanner.escalation)
            #expect(event.data.explanation == "reopened; \(Self.a)-HK-H is no longer on the staff: escalation level 1: no department head of Housekeeping on duty; duty manager on duty",
                    "\(event.data.explanation ?? "")")
        }
    }

    /// Before: with a dispatcher configured, the explanation said "no dispatcher is configured".
    @Test("dispatcher department: the fallback decides, and the explanation says the dispatcher was not asked, and why")
    func dispatcherNotAsked() async throws {
        // Never called: the first assignment is made before housekeeping is switched to http.
        let dispatcher = DispatcherClient(settings: DispatcherSettings(url: "http://127.0.0.1:9/dispatch"), logger: Logger(label: "test"))
        let assigner = Assigner(dispatcher: dispatcher)
        let reassigned = try await Self.reopenAfterAnaLeft(
            strategy: LeastLoadedStrategy.name, reopenStrategy: DispatcherStrategy.name, assigner: assigner)
        let explanation = reassigned.data.explanation ?? ""
        #expect(explanation.contains("the dispatcher was not asked (a reopened complaint's new owner is chosen inside its transaction)"), "\(explanation)")
        #expect(!explanation.contains("no dispatcher is configured"), "\(explanation)")
        #expect(reassigned.data.strategy == LeastLoadedStrategy.name)
    }
}
