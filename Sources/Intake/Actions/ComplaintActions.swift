import Access
import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import Foundation
import Logging
import PostgresNIO

/// The result of a staff action, as the HTTP API answers it.
public struct ActionOutcome: Sendable, Hashable, Codable {
    public var complaintId: UUID
    public var action: String
    public var status: IntakeStatus
    /// For compensation actions: the compensation and its state (`approved`, `pending`, `rejected`).
    public var compensationId: UUID?
    public var compensationState: CompensationState?
}

/// Applies staff actions to complaints: checks the caller, the state machine and the compensation
/// authority, then writes the complaint, its timeline and the `complaints.updated.v1` events in the
/// caller's transaction (intake's schema on the `search_path`). The complaint row is locked first, so
/// one complaint's actions serialise and its events reach the outbox in order.
public struct ComplaintActions: Sendable {
    public var authority: CompensationAuthority
    public var topics: IntakeTopics

    public init(authority: CompensationAuthority = .default, topics: IntakeTopics = IntakeTopics()) {
        self.authority = authority
        self.topics = topics
    }

    /// - Parameter actor: Who the timeline and the event name, when not the caller's key (the guest
    ///   answering the survey through intake's page).
    public func apply(
        _ action: StaffAction, to complaintID: UUID, by caller: Caller, actor: EventActor? = nil, traceParent: String? = nil,
        on connection: PostgresConnection, logger: Logger
    ) async throws -> (ActionOutcome, [OutgoingEvent]) {
        guard caller.role >= .staff else {
            throw ActionError.forbidden("role \(caller.role.rawValue) may only submit complaints")
        }
        let rows = try await connection.query(
            "SELECT hotel_id, status FROM complaints WHERE id = \(complaintID) FOR UPDATE", logger: logger)
        var found: (hotel: String, status: IntakeStatus)?
        for try await (hotel, status) in rows.decode((String, String).self) {
            found = (hotel, IntakeStatus(rawValue: status) ?? .received)
        }
        guard let found, caller.covers(hotel: found.hotel) else { throw ActionError.complaintNotFound }
        guard var statusAfter = action.transition(from: found.status) else {
            throw ActionError.illegalTransition(action: action.name, current: found.status, legalFrom: action.legalFrom)
        }

        let now = Date()
        let actor = actor ?? caller.actor
        var changes: [(change: ComplaintUpdated.Change, status: IntakeStatus)] = []
        var outcome = ActionOutcome(complaintId: complaintID, action: action.name, status: statusAfter)

        switch action {
        case .acknowledge:
            changes = [(.acknowledged, statusAfter)]
        case .addNote(let note):
            changes = [(.noteAdded(note), statusAfter)]
        case .resolve(let resolution):
            changes = [(.resolved(resolution), statusAfter)]
        case .reopen(let reason):
            changes = [(.reopened(Reopening(trigger: .staffDecision, reason: reason)), statusAfter)]
        case .close:
            // A pending compensation could never be approved or rejected once closed (both are refused
            // on a closed complaint): it is decided first.
            if let pending = try await pendingCompensation(complaintID: complaintID, on: connection, logger: logger) {
                throw ActionError.compensationPending(pending)
            }
            changes = [(.closed, statusAfter)]
        case .waitForGuest:
            changes = [(.waitingForGuest, statusAfter)]
        case .resume:
            changes = [(.resumed, statusAfter)]
        case .recordFollowUp(let followUp):
            // One follow-up per resolution, whoever records it (staff, or the guest's survey link).
            if let recorded = try await followUpSinceResolved(complaintID: complaintID, on: connection, logger: logger) {
                throw ActionError.followUpRecorded(at: recorded)
            }
            changes = [(.followUpRecorded(followUp), .resolved)]
            if FollowUpPolicy.reopens(followUp) {
                statusAfter = .reopened
                let reason = "guest satisfaction \(followUp.satisfaction) of 5 at follow-up"
                changes.append((.reopened(Reopening(trigger: .followupDissatisfied, reason: reason)), .reopened))
            }
        case .requestCompensation(let request):
            let id = UUID()
            let approvedSoFar = try await approvedTotal(complaintID: complaintID, currency: request.currency, on: connection, logger: logger)
            let withinAuthority = authority.allows(caller.role, total: approvedSoFar + request.amountMinor, currency: request.currency)
            let state: CompensationState = withinAuthority ? .approved : .pending
            try await connection.query("""
                INSERT INTO compensations (id, complaint_id, kind, amount_minor, currency, reason, state,
                    requested_by, requested_at, decided_by, decided_at)
                VALUES (\(id), \(complaintID), \(request.kind.rawValue), \(request.amountMinor), \(request.currency),
                    \(request.reason), \(state.rawValue), \(caller.name), \(now), \(withinAuthority ? caller.name : nil), \(withinAuthority ? now : nil))
                """, logger: logger)
            let compensation = Compensation(
                id: id, kind: request.kind, amountMinor: request.amountMinor, currency: request.currency, reason: request.reason)
            changes = [(.compensationRequested(compensation), statusAfter)]
            if withinAuthority {
                var approved = compensation
                approved.decisionNote = "within \(caller.role.rawValue) authority"
                changes.append((.compensationApproved(approved), statusAfter))
            }
            outcome.compensationId = id
            outcome.compensationState = state
        case .approveCompensation(let id, let note), .rejectCompensation(let id, let note):
            let approving: Bool
            if case .approveCompensation = action { approving = true } else { approving = false }
            guard caller.role >= .manager else {
                throw ActionError.forbidden("only a manager or admin may \(approving ? "approve" : "reject") compensation")
            }
            let pending = try await connection.query("""
                SELECT kind, amount_minor, currency, reason, state FROM compensations
                WHERE id = \(id) AND complaint_id = \(complaintID) FOR UPDATE
                """, logger: logger)
            var record: (kind: String, amount: Int64, currency: String, reason: String, state: String)?
            for try await row in pending.decode((String, Int64, String, String, String).self) { record = row }
            guard let record else { throw ActionError.compensationNotFound(id) }
            guard record.state == CompensationState.pending.rawValue else { throw ActionError.compensationDecided(id, state: record.state) }
            if approving {
                let approvedSoFar = try await approvedTotal(complaintID: complaintID, currency: record.currency, on: connection, logger: logger)
                guard authority.allows(caller.role, total: approvedSoFar + record.amount, currency: record.currency) else {
                    throw ActionError.forbidden("the amount exceeds the \(caller.role.rawValue) authority; an admin must approve")
                }
            }
            let state: CompensationState = approving ? .approved : .rejected
            try await connection.query("""
                UPDATE compensations SET state = \(state.rawValue), decided_by = \(caller.name), decided_at = \(now),
                    decision_note = \(note) WHERE id = \(id)
                """, logger: logger)
            let compensation = Compensation(
                id: id, kind: CompensationKind(rawValue: record.kind) ?? .other, amountMinor: record.amount,
                currency: record.currency, reason: record.reason, decisionNote: note)
            changes = [(approving ? .compensationApproved(compensation) : .compensationRejected(compensation), statusAfter)]
            outcome.compensationId = id
            outcome.compensationState = state
        }

        outcome.status = statusAfter
        if statusAfter != found.status {
            try await connection.query("""
                UPDATE complaints SET status = \(statusAfter.rawValue), version = version + 1, updated_at = \(now)
                WHERE id = \(complaintID)
                """, logger: logger)
        } else {
            try await connection.query(
                "UPDATE complaints SET version = version + 1, updated_at = \(now) WHERE id = \(complaintID)", logger: logger)
        }
        var events: [OutgoingEvent] = []
        for (change, status) in changes {
            let updated = ComplaintUpdated(complaintID: complaintID, change: change, occurredAt: now, actor: actor, statusAfter: status.eventStatus)
            try await Timeline.append(
                complaintID: complaintID, at: now, kind: change.kind.rawValue, actor: actor, statusAfter: status,
                detailsJSON: try detailsJSON(of: updated), on: connection, logger: logger)
            let envelope = EventEnvelope(source: IntakeTopics.eventSource, time: now, hotelID: found.hotel, traceParent: traceParent, data: updated)
            events.append(try OutgoingEvent(envelope, on: topics.updated))
        }
        return (outcome, events)
    }

    /// The oldest compensation of the complaint still waiting for a decision.
    private func pendingCompensation(complaintID: UUID, on connection: PostgresConnection, logger: Logger) async throws -> UUID? {
        let rows = try await connection.query("""
            SELECT id FROM compensations
            WHERE complaint_id = \(complaintID) AND state = \(CompensationState.pending.rawValue)
            ORDER BY requested_at, id LIMIT 1
            """, logger: logger)
        for try await id in rows.decode(UUID.self) { return id }
        return nil
    }

    /// When a follow-up was recorded after the complaint's last `resolved` entry, if one was. The
    /// complaint's row is locked, so no other follow-up can be recorded meanwhile.
    static func followUpSinceResolved(complaintID: UUID, on connection: PostgresConnection, logger: Logger) async throws -> Date? {
        let rows = try await connection.query("""
            SELECT f.occurred_at FROM timeline f
            WHERE f.complaint_id = \(complaintID) AND f.kind = \(ComplaintUpdated.Kind.followUpRecorded.rawValue)
              AND f.id > COALESCE((SELECT max(r.id) FROM timeline r
                                   WHERE r.complaint_id = \(complaintID) AND r.kind = \(ComplaintUpdated.Kind.resolved.rawValue)), 0)
            ORDER BY f.id LIMIT 1
            """, logger: logger)
        for try await at in rows.decode(Date.self) { return at }
        return nil
    }

    private func followUpSinceResolved(complaintID: UUID, on connection: PostgresConnection, logger: Logger) async throws -> Date? {
        try await Self.followUpSinceResolved(complaintID: complaintID, on: connection, logger: logger)
    }

    private func approvedTotal(complaintID: UUID, currency: String, on connection: PostgresConnection, logger: Logger) async throws -> Int64 {
        let rows = try await connection.query("""
            SELECT COALESCE(SUM(amount_minor), 0)::bigint FROM compensations
            WHERE complaint_id = \(complaintID) AND currency = \(currency) AND state = \(CompensationState.approved.rawValue)
            """, logger: logger)
        for try await total in rows.decode(Int64.self) { return total }
        return 0
    }

    /// The change's details (note, resolution, …) as the timeline keeps them: the event's own JSON
    /// without the envelope-level fields.
    private func detailsJSON(of updated: ComplaintUpdated) throws -> String? {
        let bytes = try EventCoding.encode(updated)
        guard var object = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else { return nil }
        for key in ["complaintId", "kind", "occurredAt", "actor", "statusAfter"] { object.removeValue(forKey: key) }
        guard !object.isEmpty else { return nil }
        return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }
}
