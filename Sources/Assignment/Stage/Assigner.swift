import ComplaintEvents
import ComplaintPipeline
import Foundation
import Logging
import PostgresNIO

/// What the three handlers of the stage share: the planner, the organisation and the ledger, and the
/// one way an assignment is recorded and announced (history row, current owner, round-robin turn and a
/// `complaints.assigned.v1` event, all in the handler's transaction).
public struct Assigner: Sendable {
    public var planner: AssignmentPlanner
    public var organisations: OrganisationStore
    public var ledger: AssignmentLedger
    public var outputTopic: Topic<ComplaintAssigned>
    /// Asks the group's dispatcher for departments whose strategy is `http`; `nil` when none is configured.
    public var dispatcher: DispatcherClient?
    /// The envelope `source` of published events.
    public var source = "/redress/assignment"
    public var clock: @Sendable () -> Date = { Date() }

    public init(
        planner: AssignmentPlanner = AssignmentPlanner(), organisations: OrganisationStore = OrganisationStore(),
        ledger: AssignmentLedger = AssignmentLedger(), outputTopic: Topic<ComplaintAssigned> = Topics.assigned,
        dispatcher: DispatcherClient? = nil
    ) {
        self.planner = planner
        self.organisations = organisations
        self.ledger = ledger
        self.outputTopic = outputTopic
        self.dispatcher = dispatcher
    }

    /// The hotel's organisation, with its revision locked for the transaction.
    /// - Throws: A ``ComplaintPipeline/RejectedEvent`` when the hotel is unknown (the event is
    ///   dead-lettered with that reason; add the hotel and replay it).
    func lockedHotel(_ hotelID: String, context: HandlerContext) async throws -> HotelOrganisation {
        guard let revision = try await organisations.lockRevision(of: hotelID, on: context.connection, logger: context.logger),
              let hotel = try await organisations.hotel(hotelID, revision: revision, on: context.connection, logger: context.logger)
        else { throw Self.unknownHotel(hotelID) }
        return hotel
    }

    /// The event names a hotel the assignment service has no organisation for: dead-lettered with what to do.
    static func unknownHotel(_ hotelID: String) -> RejectedEvent {
        RejectedEvent(
            "hotel \(hotelID) has no organisation in the assignment service; add it to services/assignment/organisation.yaml "
                + "or PUT /v1/hotels/\(hotelID), then redrive this event: redress deadletter redrive --service assignment --reason-contains \(hotelID)")
    }

    /// Records `decision` as the next assignment of `complaint` and returns the event announcing it.
    func record(
        _ decision: AssignmentDecision, of complaint: AssignmentLedger.ComplaintRecord, facts: ComplaintFacts, reason: AssignmentReason,
        escalationLevel: Int, cause: EventEnvelope<some EventPayload>, context: HandlerContext
    ) async throws -> OutgoingEvent {
        let now = clock()
        // Quotes what a dispatcher answered: no NUL (neither the event nor PostgreSQL text takes one).
        let explanation = decision.explanation.storable(maximumScalars: 500)
        let assigned = ComplaintAssigned(
            complaintID: complaint.complaintID, assignedAt: now, registeredAt: facts.registeredAt, category: facts.category,
            severity: facts.severity, priority: facts.priority, department: decision.department,
            assignee: Assignee(staffID: decision.member.id, name: decision.member.name, role: decision.member.role.actorRole),
            strategy: decision.strategy, reason: reason, escalationLevel: escalationLevel, explanation: explanation)
        let envelope = EventEnvelope(
            source: source, time: now, hotelID: complaint.hotelID, traceParent: cause.traceParent, traceState: cause.traceState,
            data: assigned)
        let entry = AssignmentLedger.Entry(
            version: complaint.version + 1, department: decision.department, staffID: decision.member.id, staffName: decision.member.name,
            role: decision.member.role.rawValue, strategy: decision.strategy, reason: reason, escalationLevel: escalationLevel,
            explanation: explanation, assignedAt: now, eventID: envelope.id)
        try await ledger.record(
            entry, of: complaint, takesTurn: decision.strategy == RoundRobinStrategy.name, on: context.connection, logger: context.logger)
        context.logger.info("assigned", metadata: [
            "assignment.staff": "\(decision.member.id)", "assignment.department": "\(decision.department)",
            "assignment.strategy": "\(decision.strategy)", "assignment.version": "\(entry.version)",
        ])
        return try OutgoingEvent(envelope, on: outputTopic)
    }
}
