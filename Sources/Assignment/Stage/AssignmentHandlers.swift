import ComplaintEvents
import ComplaintPipeline
import Foundation
import Logging
import PostgresNIO

/// `complaints.classified.v1` → the first owner. A department whose strategy is `http` has the group's
/// dispatcher asked first, outside the transaction; inside it, under the hotel's lock, the candidates
/// are computed again and the answer used only if its person is still one of them.
public struct ClassifiedAssignmentHandler: PreparingEventHandler {
    public var assigner: Assigner

    public init(assigner: Assigner) {
        self.assigner = assigner
    }

    static func facts(of event: EventEnvelope<ComplaintClassified>) -> ComplaintFacts {
        let data = event.data
        return ComplaintFacts(
            complaintID: data.complaintID, hotelID: event.hotelID, category: data.category, severity: data.severity,
            priority: data.priority, language: data.language, isVIP: data.flags.isVIP, involvesSafety: data.flags.involvesSafety,
            // Events from before the contract carried it: the classification time is the closest known.
            registeredAt: data.registeredAt ?? data.classifiedAt)
    }

    /// `nil` only when no dispatcher is configured. Otherwise the dispatcher is asked when the complaint
    /// may be given to someone through it (its department is on `http` and has candidates, and it has no
    /// owner yet, or this verdict is one that reassigns it); when not, the answer says why it was not
    /// asked (``DispatcherAnswer/notAsked(_:)``), which the explanation repeats should the transaction
    /// assign through the dispatcher after all (the organisation or the complaint changed meanwhile).
    public func prepare(_ event: EventEnvelope<ComplaintClassified>, context: PreparationContext) async throws -> DispatcherAnswer? {
        guard let dispatcher = assigner.dispatcher else { return nil }
        let facts = Self.facts(of: event)
        let assigner = self.assigner
        let classifiedAt = event.data.classifiedAt
        let question = try await context.store.read { connection, logger -> Result<(Department, [Candidate]), Unasked> in
            guard let revision = try await assigner.organisations.revision(of: facts.hotelID, on: connection, logger: logger),
                  let hotel = try await assigner.organisations.hotel(facts.hotelID, revision: revision, on: connection, logger: logger)
            else { return .failure(Unasked("hotel \(facts.hotelID) was not known")) }
            let loads = try await assigner.ledger.openLoads(hotelID: facts.hotelID, on: connection, logger: logger)
            let routing = assigner.planner.route(facts, in: hotel, loads: loads, now: assigner.clock())
            // A repeated, late or keeping verdict of a complaint that has an owner: the handler assigns nothing through the dispatcher.
            if let stored = try await assigner.ledger.standing(of: facts.complaintID, on: connection, logger: logger), stored.version > 0 {
                let reassigns = stored.hotelID == facts.hotelID && (stored.classifiedAt.map { $0 < classifiedAt } ?? true)
                    && stored.status == .open && !stored.acknowledged && stored.escalationLevel == 0
                    && Self.reassignment(from: stored.department, owner: stored.staffID.flatMap(hotel.member), facts: facts, routing: routing) != nil
                guard reassigns else { return .failure(Unasked("the complaint already had an owner who keeps it")) }
            }
            guard let department = routing.department else { return .failure(Unasked("no department handled \(facts.category.rawValue)")) }
            guard routing.strategy == DispatcherStrategy.name else { return .failure(Unasked("\(department.name) was not on http")) }
            guard !routing.candidates.isEmpty else { return .failure(Unasked("nobody in \(department.name) was on duty with capacity")) }
            return .success((department, routing.candidates))
        }
        switch question {
        case .success(let (department, candidates)):
            return await dispatcher.ask(facts, department: department, candidates: candidates)
        case .failure(let unasked):
            return .notAsked("\(unasked.reason) when the complaint was prepared")
        }
    }

    /// Why the dispatcher was not asked at prepare.
    struct Unasked: Error {
        var reason: String
        init(_ reason: String) { self.reason = reason }
    }

    /// Why a newer verdict changes whom a complaint with an owner is for (another department, or VIP or
    /// serious while the owner is below supervisor); `nil`: the owner may keep it.
    static func reassignment(from department: String?, owner: StaffMember?, facts: ComplaintFacts, routing: AssignmentPlanner.Routing) -> String? {
        if let department, department != routing.departmentCode {
            return "reclassified from \(department) to \(routing.departmentCode) before anyone acknowledged it"
        }
        if facts.needsSeniority, let owner, owner.role < .supervisor {
            return "reclassified as \(facts.isVIP ? "VIP" : "serious") before anyone acknowledged it; \(owner.name) (\(owner.role.words)) is not senior enough"
        }
        return nil
    }

    public func handle(
        _ event: EventEnvelope<ComplaintClassified>, prepared answer: DispatcherAnswer?, context: HandlerContext
    ) async throws -> [OutgoingEvent] {
        let facts = Self.facts(of: event)
        // The hotel's lock, the classification stored (if newer than the one stored), the loads and turns: one round trip.
        guard let recorded = try await assigner.ledger.recordClassification(
                  facts, classifiedAt: event.data.classifiedAt, on: context.connection, logger: context.logger),
              let hotel = try await assigner.organisations.hotel(
                  facts.hotelID, revision: recorded.revision, on: context.connection, logger: context.logger)
        else { throw Assigner.unknownHotel(facts.hotelID) }
        let complaint = recorded.complaint
        // Planned in the verdict's hotel: one naming another hotel than the complaint's would give it to
        // that hotel's people (nothing was stored).
        guard complaint.hotelID == facts.hotelID else {
            throw RejectedEvent(
                "classification of complaint \(facts.complaintID.lowercasedString) names hotel \(facts.hotelID), but the complaint is \(complaint.hotelID)'s")
        }
        guard recorded.applied else {
            // A verdict as old as the one the facts come from, or older (a replay, a late read): nothing changes.
            context.logger.info("verdict not newer than the one applied; ignored", metadata: [
                "classification.classified_at": "\(event.data.classifiedAt)"])
            return []
        }
        guard complaint.version == 0 else {
            return try await reassignIfReclassified(complaint, facts: facts, hotel: hotel, recorded: recorded, answer: answer, event: event, context: context)
        }
        // Acknowledged at the desk before the classification came: the one who took it keeps it.
        if let staffID = try await assigner.ledger.earlyAcknowledgement(of: facts.complaintID, on: context.connection, logger: context.logger),
           let member = hotel.member(staffID), member.active
        {
            let department = assigner.planner.route(facts, in: hotel, loads: recorded.loads, now: assigner.clock()).departmentCode
            let decision = AssignmentDecision(
                department: department, member: member, strategy: StatusHandler.handOver,
                explanation: "\(member.name) acknowledged it before it was classified")
            return [try await assigner.record(
                decision, of: complaint, facts: facts, reason: .manual, escalationLevel: 0, cause: event, context: context)]
        }
        let loads = recorded.loads
        let routing = assigner.planner.route(facts, in: hotel, loads: loads, now: assigner.clock())
        // Round robin reads whose turn it is, as the department's strategy or as the dispatcher's fallback
        // (which otherwise gave every complaint to the first in line while the dispatcher was away).
        let lastInTurn = recorded.turns[routing.departmentCode]
        guard let decision = assigner.planner.assign(
            facts, in: hotel, loads: loads, now: assigner.clock(), lastInTurn: lastInTurn, dispatcherAnswer: answer)
        else {
            throw RejectedEvent("hotel \(hotel.id) has no active staff to assign complaint \(facts.complaintID.lowercasedString) to")
        }
        return [try await assigner.record(
            decision, of: complaint, facts: facts, reason: .initial, escalationLevel: 0, cause: event, context: context)]
    }

    /// A newer verdict of a complaint that already has an owner. While it is open, unacknowledged and not
    /// escalated, a verdict that changes whom it is for (another department, or VIP/serious for an owner
    /// below supervisor) assigns it afresh through the planner, as a `manual` assignment that says so;
    /// otherwise the owner keeps it with the new facts; a new department is then recorded and published as
    /// a `department_changed` assignment to the same owner (``moveDepartment(_:to:hotel:state:facts:event:context:)``).
    private func reassignIfReclassified(
        _ complaint: AssignmentLedger.ComplaintRecord, facts: ComplaintFacts, hotel: HotelOrganisation,
        recorded: AssignmentLedger.ClassificationRecorded, answer: DispatcherAnswer?, event: EventEnvelope<ComplaintClassified>,
        context: HandlerContext
    ) async throws -> [OutgoingEvent] {
        let now = assigner.clock()
        let routing = assigner.planner.route(facts, in: hotel, loads: recorded.loads, now: now)
        let owner = complaint.staffID.flatMap(hotel.member)
        guard let why = Self.reassignment(from: complaint.department, owner: owner, facts: facts, routing: routing) else {
            context.logger.info("reclassified; same department, owner kept")
            return []
        }
        guard complaint.status == .open, !recorded.acknowledged, complaint.escalationLevel == 0 else {
            let state = complaint.status != .open ? complaint.status.rawValue : recorded.acknowledged ? "acknowledged" : "escalated"
            // The owner keeps it, but it now belongs to the department that handles what it is about: an
            // escalation goes up that department's chain (its head), not the one it was first sent to.
            if let department = complaint.department, department != routing.departmentCode {
                return [try await moveDepartment(
                    complaint, to: routing.departmentCode, hotel: hotel, state: state, facts: facts, event: event, context: context)]
            }
            context.logger.info("reclassified after it was \(state); owner kept", metadata: [
                "assignment.department": "\(routing.departmentCode)"])
            return []
        }
        guard var decision = assigner.planner.assign(
            facts, in: hotel, loads: recorded.loads, now: now, lastInTurn: recorded.turns[routing.departmentCode], dispatcherAnswer: answer)
        else {
            throw RejectedEvent("hotel \(hotel.id) has no active staff to give reclassified complaint \(facts.complaintID.lowercasedString) to")
        }
        decision.explanation = why + ": " + decision.explanation
        return [try await assigner.record(
            decision, of: complaint, facts: facts, reason: .manual, escalationLevel: 0, cause: event, context: context)]
    }

    /// The owner keeps a reclassified complaint that now belongs to `department`: recorded as the next
    /// assignment (same person, new department, escalation level kept, strategy `owner_kept`, reason
    /// `department_changed`) and published in the same transaction, so the SLA watcher (the department's
    /// calendar), the notifier and the metrics follow the move. An owner who has left the staff (a resolved
    /// complaint's) is named as the history last has them.
    private func moveDepartment(
        _ complaint: AssignmentLedger.ComplaintRecord, to department: String, hotel: HotelOrganisation, state: String,
        facts: ComplaintFacts, event: EventEnvelope<ComplaintClassified>, context: HandlerContext
    ) async throws -> OutgoingEvent {
        let before = complaint.department ?? ""
        var owner = complaint.staffID.flatMap(hotel.member)
        if owner == nil, let last = try await assigner.ledger.history(
            of: complaint.complaintID, on: context.connection, logger: context.logger)?.entries.last
        {
            owner = StaffMember(
                id: last.staffID, name: last.staffName, role: StaffRole(rawValue: last.role) ?? .agent, departments: [], capacity: 0,
                active: false)
        }
        guard let owner else {
            throw RejectedEvent("complaint \(complaint.complaintID.lowercasedString) has no owner to keep in its new department \(department)")
        }
        let name = hotel.department(department)?.name ?? DefaultRouting.name(of: department)
        let decision = AssignmentDecision(
            department: department, member: owner, strategy: Self.ownerKept,
            explanation: "reclassified from \(before) to \(department) after it was \(state): \(owner.name) keeps it, now in \(name)")
        context.logger.info("reclassified after it was \(state); owner kept, department moved", metadata: [
            "assignment.department": "\(department)", "assignment.department.before": "\(before)"])
        return try await assigner.record(
            decision, of: complaint, facts: facts, reason: .departmentChanged, escalationLevel: complaint.escalationLevel, cause: event,
            context: context)
    }

    /// The strategy of a `department_changed` assignment: nobody was chosen, the owner stays.
    public static let ownerKept = "owner_kept"
}

/// `complaints.sla.v1` → on `escalated`, the next person up the hotel's chain, as a new assignment (the
/// previous one stays in the history). Other clock events, repeated levels and escalations of closed
/// complaints change nothing.
public struct EscalationHandler: EventHandler {
    public var assigner: Assigner

    public init(assigner: Assigner) {
        self.assigner = assigner
    }

    /// Only an escalation is applied (under the hotel's lock); other clock events are passed over.
    public func takesHotelLock(_ event: EventEnvelope<ComplaintSLAEvent>) -> Bool {
        if case .escalated = event.data.milestone { return true }
        return false
    }

    public func handle(_ event: EventEnvelope<ComplaintSLAEvent>, context: HandlerContext) async throws -> [OutgoingEvent] {
        guard case .escalated(let escalation) = event.data.milestone else { return [] }
        let ledger = assigner.ledger
        let id = event.data.complaintID
        // The hotel's lock first, as every handler takes it: no two transactions wait on each other.
        let hotel = try await assigner.lockedHotel(event.hotelID, context: context)
        guard let complaint = try await ledger.complaint(id, on: context.connection, logger: context.logger),
              let facts = complaint.facts
        else {
            throw RejectedEvent("escalation of complaint \(id.lowercasedString), which the assignment service never saw classified")
        }
        // Planned and locked in the event's hotel: one naming another hotel than the complaint's would give
        // it to that hotel's people.
        guard complaint.hotelID == hotel.id else {
            throw RejectedEvent("escalation of complaint \(id.lowercasedString) names hotel \(hotel.id), but the complaint is \(complaint.hotelID)'s")
        }
        guard complaint.status == .open else {
            context.logger.info("escalation of a \(complaint.status.rawValue) complaint ignored")
            return []
        }
        guard escalation.level > complaint.escalationLevel else {
            context.logger.info("complaint already at escalation level \(complaint.escalationLevel); level \(escalation.level) ignored")
            return []
        }
        let loads = try await ledger.openLoads(hotelID: hotel.id, on: context.connection, logger: context.logger)
        let department = complaint.department ?? assigner.planner.route(facts, in: hotel, loads: loads, now: assigner.clock()).departmentCode
        guard let decision = assigner.planner.escalate(
            facts, department: department, level: escalation.level, in: hotel, loads: loads, now: assigner.clock(), owner: complaint.staffID)
        else {
            throw RejectedEvent("hotel \(hotel.id) has no active staff to escalate complaint \(id.lowercasedString) to")
        }
        return [try await assigner.record(
            decision, of: complaint, facts: facts, reason: .escalation, escalationLevel: escalation.level, cause: event, context: context)]
    }
}

/// `complaints.updated.v1` → capacity and hand-overs: resolved and closed complaints stop counting against
/// their owner, a reopened one counts again; a staff member of the hotel who acknowledges a complaint
/// someone else owns takes it over (a `manual` assignment, strategy `hand_over`; an escalated one only if
/// they are at least as senior as its level asks for, else it stays with an active owner and goes up the
/// chain from one who is no longer active), and one who acknowledges
/// it before its classification arrives gets it at its first assignment.
public struct StatusHandler: EventHandler {
    public var assigner: Assigner
    public static let handOver = "hand_over"

    public init(assigner: Assigner) {
        self.assigner = assigner
    }

    /// An acknowledgement (a possible hand-over) and a reopening (a possible new owner) take the hotel's
    /// lock; the other changes touch the complaint's row alone.
    public func takesHotelLock(_ event: EventEnvelope<ComplaintUpdated>) -> Bool {
        switch event.data.change {
        case .acknowledged, .reopened: true
        default: false
        }
    }

    public func handle(_ event: EventEnvelope<ComplaintUpdated>, context: HandlerContext) async throws -> [OutgoingEvent] {
        let data = event.data
        let ledger = assigner.ledger
        switch data.change {
        case .resolved:
            try await setStatus(.resolved, event, context: context)
        case .closed:
            try await setStatus(.closed, event, context: context)
        case .reopened:
            // The hotel's lock first, as every handler takes it (a staff deletion checks open complaints under it).
            let organisations = assigner.organisations
            let revision = try await organisations.lockRevision(of: event.hotelID, on: context.connection, logger: context.logger)
            // A reopening older than the status stored (redriven after it was resolved and closed again)
            // changes nothing: neither the status nor the owner.
            guard try await setStatus(.open, event, context: context) else { return [] }
            guard let revision, let hotel = try await organisations.hotel(event.hotelID, revision: revision, on: context.connection, logger: context.logger)
            else { return [] }
            return try await reassignIfOwnerLeft(event, hotel: hotel, context: context)
        case .acknowledged:
            return try await handOver(event, context: context)
        default:
            break
        }
        return []
    }

    /// The status an update leads to, applied only if the update is at least as new as the one the stored
    /// status comes from (one made at the same instant is applied, in read order); `false` (and a log
    /// line) when it is older. An update naming another hotel than the complaint's is dead-lettered.
    @discardableResult
    private func setStatus(_ status: AssignmentLedger.Status, _ event: EventEnvelope<ComplaintUpdated>, context: HandlerContext) async throws -> Bool {
        let id = event.data.complaintID
        switch try await assigner.ledger.setStatus(
            status, of: id, hotelID: event.hotelID, at: event.data.occurredAt, on: context.connection, logger: context.logger)
        {
        case .applied:
            return true
        case .older:
            context.logger.info("status update older than the status stored; ignored", metadata: [
                "complaint.status": "\(status.rawValue)", "complaint.occurred_at": "\(event.data.occurredAt)"])
            return false
        case .otherHotel(let hotelID):
            throw RejectedEvent(
                "status update (\(status.rawValue)) of complaint \(id.lowercasedString) names hotel \(event.hotelID), but the complaint is \(hotelID)'s")
        }
    }

    /// A reopened complaint goes back to its owner, unless they left the staff (deleted while it was
    /// resolved, or made inactive): then it is assigned afresh, as a `manual` assignment that says why.
    /// One that was escalated goes up the hotel's chain at the level it has (strategy `escalation`);
    /// otherwise its department's strategy chooses (round robin goes on from the department's turn; a
    /// dispatcher department gets the dispatcher's fallback, since the dispatcher is not called inside
    /// the transaction).
    private func reassignIfOwnerLeft(
        _ event: EventEnvelope<ComplaintUpdated>, hotel: HotelOrganisation, context: HandlerContext
    ) async throws -> [OutgoingEvent] {
        let ledger = assigner.ledger
        guard let complaint = try await ledger.complaint(event.data.complaintID, on: context.connection, logger: context.logger),
              complaint.version > 0, complaint.hotelID == hotel.id, let facts = complaint.facts, let owner = complaint.staffID
        else { return [] }
        if let member = hotel.member(owner), member.active { return [] }
        let now = assigner.clock()
        let loads = try await ledger.openLoads(hotelID: hotel.id, on: context.connection, logger: context.logger)
        // The department's strategy, as at a first assignment: round robin takes the turn where the first
        // assignments left it. The dispatcher is asked only before a transaction, and this choice is made
        // inside one: its department gets the dispatcher's fallback, and the explanation says so.
        let department = assigner.planner.route(facts, in: hotel, loads: loads, now: now).departmentCode
        if complaint.escalationLevel > 0 {
            // Escalated before it was resolved: it keeps its level, so it goes to whom that level goes to
            // (the escalation chain), not to whoever the department's strategy picks.
            guard var decision = assigner.planner.escalate(
                facts, department: complaint.department ?? department, level: complaint.escalationLevel, in: hotel, loads: loads, now: now,
                owner: owner)
            else {
                throw RejectedEvent("hotel \(hotel.id) has no active staff to give reopened complaint \(facts.complaintID.lowercasedString) to")
            }
            decision.explanation = "reopened; \(owner) is no longer on the staff: " + decision.explanation
            return [try await assigner.record(
                decision, of: complaint, facts: facts, reason: .manual, escalationLevel: complaint.escalationLevel, cause: event, context: context)]
        }
        let lastInTurn = try await ledger.lastInTurn(department: department, hotelID: hotel.id, on: context.connection, logger: context.logger)
        let answer: DispatcherAnswer? = assigner.dispatcher == nil ? nil : .notAsked("a reopened complaint's new owner is chosen inside its transaction")
        guard var decision = assigner.planner.assign(
            facts, in: hotel, loads: loads, now: now, lastInTurn: lastInTurn, dispatcherAnswer: answer)
        else {
            throw RejectedEvent("hotel \(hotel.id) has no active staff to give reopened complaint \(facts.complaintID.lowercasedString) to")
        }
        decision.explanation = "reopened; \(owner) is no longer on the staff: " + decision.explanation
        return [try await assigner.record(
            decision, of: complaint, facts: facts, reason: .manual, escalationLevel: complaint.escalationLevel, cause: event, context: context)]
    }

    private func handOver(_ event: EventEnvelope<ComplaintUpdated>, context: HandlerContext) async throws -> [OutgoingEvent] {
        let actor = event.data.actor
        let ledger = assigner.ledger
        let organisations = assigner.organisations
        // The hotel's lock first, as every handler takes it.
        var revision = try await organisations.lockRevision(of: event.hotelID, on: context.connection, logger: context.logger)
        if revision == nil {
            // A hotel assignment does not know yet: wait for a request or the file creating it at this moment,
            // so it either exists now or is created after this acknowledgement is stored, and the
            // classification redriven once it exists finds it.
            try await organisations.lockCreation(of: [event.hotelID], on: context.connection, logger: context.logger)
            revision = try await organisations.lockRevision(of: event.hotelID, on: context.connection, logger: context.logger)
        }
        guard let revision, let hotel = try await organisations.hotel(event.hotelID, revision: revision, on: context.connection, logger: context.logger)
        else { return try await noteForUnknownHotel(event, context: context) }
        // Acknowledged, by whoever: from now on a reclassification keeps the owner.
        try await ledger.noteAcknowledgement(of: event.data.complaintID, hotelID: hotel.id, on: context.connection, logger: context.logger)
        guard actor.role != .system && actor.role != .guest, let member = hotel.member(actor.id), member.active else { return [] }
        let complaint = try await ledger.complaint(event.data.complaintID, on: context.connection, logger: context.logger)
        // Another hotel's complaint is not this hotel's staff's to take over.
        if let complaint, complaint.hotelID != hotel.id { return [] }
        guard let complaint, complaint.version > 0 else {
            // Acknowledged before the classification came (another topic): the first assignment gives it to them.
            try await ledger.noteEarlyAcknowledgement(
                by: actor.id, of: event.data.complaintID, hotelID: event.hotelID, on: context.connection, logger: context.logger)
            return []
        }
        guard let facts = complaint.facts, let owner = complaint.staffID, owner != actor.id else { return [] }
        // Resolved or closed, or acknowledged before its last status change (a redriven or late
        // acknowledgement): nobody takes over what is no longer being worked on.
        guard complaint.status == .open, complaint.statusAt.map({ event.data.occurredAt >= $0 }) ?? true else {
            context.logger.info("acknowledgement of a \(complaint.status.rawValue) complaint, or older than its status; no hand-over", metadata: [
                "assignment.acknowledged_by": "\(actor.id)"])
            return []
        }
        // An escalated complaint stays with the level it was escalated to: each level fires once, so a
        // late acknowledgement by someone junior (the agent who let it run out) would leave it without a
        // senior owner until the next level. Only someone at least as senior as the level asks for takes it
        // over: the lower of the owner's role and the role the hotel's chain names for the level (the owner
        // may be above it when nobody of that role was on duty at the escalation), a department head only
        // of the complaint's department, as the escalation chooses them. Someone an escalation took it from
        // (its owner just before an escalation entry: it skips the owner it escalates away from) needs at
        // least the active owner's role: the head of Housekeeping who let level 0 run out, or a duty manager
        // who got level 0 by fallback, would otherwise take back what level 1 gave to the duty manager or the
        // general manager above them.
        if complaint.escalationLevel > 0 {
            let activeOwner = hotel.member(owner).flatMap { $0.active ? $0 : nil }
            let department = complaint.department
                ?? assigner.planner.route(facts, in: hotel, loads: [:], now: assigner.clock()).departmentCode
            let chain = hotel.escalation.isEmpty ? HotelOrganisation.defaultEscalation : hotel.escalation
            let levelRole = StaffRole(chain[min(complaint.escalationLevel, chain.count) - 1])
            var required = activeOwner.map { min($0.role, levelRole) } ?? levelRole
            var escalatedAway = false
            if let activeOwner, required < activeOwner.role,
               let history = try await ledger.history(of: complaint.complaintID, on: context.connection, logger: context.logger),
               zip(history.entries, history.entries.dropFirst()).contains(where: { before, escalation in
                   before.staffID == actor.id && escalation.reason == .escalation && escalation.escalationLevel > before.escalationLevel
               })
            {
                required = activeOwner.role
                escalatedAway = true
            }
            let seniorEnough = member.role > required
                || (member.role == required && (required != .departmentHead || member.departments.contains(department)))
            if !seniorEnough {
                if activeOwner != nil {
                    let why = escalatedAway
                        ? "acknowledged by someone an escalation took it from, junior to its owner; owner kept"
                        : "acknowledged by someone junior to the level of an escalated complaint; owner kept"
                    context.logger.info("\(why)", metadata: [
                        "assignment.acknowledged_by": "\(actor.id)", "assignment.escalation_level": "\(complaint.escalationLevel)"])
                    return []
                }
                // The owner is no longer active (kept in the file while they own open complaints) or gone:
                // keeping them leaves nobody on it, and the junior is not whom the level asks for. It goes up
                // the hotel's chain at the level it has, as a reopened complaint whose owner left does.
                let now = assigner.clock()
                let loads = try await ledger.openLoads(hotelID: hotel.id, on: context.connection, logger: context.logger)
                if var decision = assigner.planner.escalate(
                    facts, department: department, level: complaint.escalationLevel, in: hotel, loads: loads, now: now, owner: owner)
                {
                    decision.explanation = "\(member.name) acknowledged it; \(owner) is no longer on the staff: "
                        + decision.explanation
                    return [try await assigner.record(
                        decision, of: complaint, facts: facts, reason: .manual, escalationLevel: complaint.escalationLevel, cause: event,
                        context: context)]
                }
                // Nobody up the chain (not possible while the actor is active): the one who acknowledged it.
            }
        }
        let previous = hotel.member(owner)?.name ?? owner
        let decision = AssignmentDecision(
            department: complaint.department ?? facts.category.rawValue, member: member, strategy: Self.handOver,
            explanation: "\(member.name) acknowledged it and took it over from \(previous)")
        return [try await assigner.record(
            decision, of: complaint, facts: facts, reason: .manual, escalationLevel: complaint.escalationLevel, cause: event,
            context: context)]
    }

    /// An acknowledgement of a complaint whose hotel assignment does not know yet: its classification is
    /// dead-lettered until the hotel is added and then redriven, and that first assignment gives it to the
    /// one who acknowledged it if they are an active member of the hotel by then (it checks), and keeps
    /// the owner at a later reclassification. Dropping it gave the complaint to whoever the strategy chose.
    private func noteForUnknownHotel(_ event: EventEnvelope<ComplaintUpdated>, context: HandlerContext) async throws -> [OutgoingEvent] {
        let ledger = assigner.ledger
        let id = event.data.complaintID, actor = event.data.actor
        // Another hotel's complaint (the event names the wrong hotel) is left alone.
        if let complaint = try await ledger.complaint(id, on: context.connection, logger: context.logger), complaint.hotelID != event.hotelID {
            return []
        }
        try await ledger.noteAcknowledgement(of: id, hotelID: event.hotelID, on: context.connection, logger: context.logger)
        if actor.role != .system && actor.role != .guest {
            try await ledger.noteEarlyAcknowledgement(by: actor.id, of: id, hotelID: event.hotelID, on: context.connection, logger: context.logger)
        }
        context.logger.info("acknowledged before its hotel was known to assignment; noted for the first assignment", metadata: [
            "assignment.acknowledged_by": "\(actor.id)"])
        return []
    }
}
