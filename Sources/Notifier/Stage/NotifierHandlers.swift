import ComplaintEvents
import ComplaintPipeline
import Foundation
import Logging
import Metrics

/// What every notifier handler shares: lock the complaint's facts, update them from the event, plan
/// with the rules, and record each intent (a redelivered event records nothing new: same keys).
struct NotificationRecorder: Sendable {
    var planner: NotificationPlanner

    /// `since`: when what the guest is told about happened, for `guestMessages.maximumAge` (the complaint's
    /// `reportedAt` for `received`); the event's time when `nil`.
    func apply<Input>(
        _ event: EventEnvelope<Input>, complaintID: UUID, trigger: NotificationTrigger, since: Date? = nil, context: HandlerContext,
        update: (inout ComplaintFacts) -> MessageFacts
    ) async throws -> [OutgoingEvent] {
        var facts = try await ComplaintFactsStore.lock(complaintID, hotelID: event.hotelID, on: context.connection, logger: context.logger)
        let stored = facts
        let details = update(&facts)
        if facts != stored {
            try await ComplaintFactsStore.save(facts, on: context.connection, logger: context.logger)
        }
        var plans = planner.plan(trigger, cause: (event.id, event.time), facts: facts, details: details)
        if planner.awaitsAssignee(trigger, facts: facts) {
            try await AwaitingAssignee.hold(trigger, cause: (event.id, event.time), details: details, of: facts, on: context.connection, logger: context.logger)
        } else if stored.assignee == nil, let assignee = facts.assignee {
            // The first assignment: what waited for someone goes to them now, under its own cause's key.
            for waiting in try await AwaitingAssignee.release(of: facts, on: context.connection, logger: context.logger) {
                var details = waiting.details
                details.assigneeName = assignee.name
                details.assigneeRole = assignee.role
                plans += planner.plan(waiting.trigger, cause: waiting.cause, facts: facts, details: details, onlyAssignee: true)
            }
        }
        let rules = planner.rules.current
        var guestHistory: GuestMessageHistory?
        for planned in plans {
            let intent = planned.intent
            if planned.kind == .guest {
                // The bound on what one complaint sends its guest, however often it is reopened and resolved.
                if guestHistory == nil {
                    guestHistory = try await GuestMessageHistory.load(facts.complaintID, on: context.connection, logger: context.logger)
                }
                // Not about a months-old complaint intake registered today (a backfill, a connector's lag):
                // its age, not when it reached intake, decides.
                // Nor about a complaint that came in a backfill, however fresh this event (a bulk resolution
                // today): its registration, read before, marked it. Read after, this message is planned.
                // The backfill first: its registration is stale as well, and its own code tells the two apart.
                let stale = GuestMessageHistory.backfill(facts, limits: rules.guestMessages)
                    ?? GuestMessageHistory.staleness(since: since ?? event.time, limits: rules.guestMessages, now: planner.now())
                if let refusal = stale ?? guestHistory?.admit(rule: intent.rule, limits: rules.guestMessages, now: planner.now()) {
                    try await DeliveryLedger.recordSkipped(intent, reason: refusal.reason, on: context.connection, logger: context.logger)
                    context.logger.info("guest notification skipped", metadata: [
                        "notification.id": "\(intent.notificationID)", "notification.rule": "\(intent.rule)", "error.code": "\(refusal.code)",
                    ])
                    Counter(label: "notifier_guest_messages_skipped_total", dimensions: [("reason", refusal.code)]).increment()
                    continue
                }
            }
            let recorded = try await context.recordIntent(
                kind: planned.kind.rawValue, idempotencyKey: intent.idempotencyKey, payload: intent, maximumAttempts: rules.maximumAttempts,
                dueAt: planned.dueAt)
            guard recorded else { continue }
            try await DeliveryLedger.recordPlanned(intent, dueAt: planned.dueAt, on: context.connection, logger: context.logger)
            if planned.kind == .guest {
                // "Registered" and "resolved" held for the same morning: recorded now, decided when they fall due.
                try await HeldGuestMessages.mark(intent, on: context.connection, logger: context.logger)
            }
            context.logger.debug("notification planned", metadata: [
                "notification.id": "\(intent.notificationID)", "notification.rule": "\(intent.rule)",
                "notification.channel": "\(intent.channel.rawValue)", "notification.recipient": "\(intent.recipientKey)",
            ])
        }
        return []
    }
}

/// `complaints.received.v1`: remembers the guest's language and preferred contact, and when the complaint
/// was reported and registered (a backfill's guest is not messaged); tells the guest the complaint is registered.
struct ReceivedNotificationHandler: EventHandler {
    var recorder: NotificationRecorder

    func handle(_ event: EventEnvelope<ComplaintReceived>, context: HandlerContext) async throws -> [OutgoingEvent] {
        let received = event.data
        // Intake stamps the event when it registers the complaint, which may be months after the guest
        // reported it (a backfill): the guest's message is as old as the report.
        let maximumAge = recorder.planner.rules.current.guestMessages.maximumAge
        return try await recorder.apply(
            event, complaintID: received.complaintID, trigger: .received, since: received.reportedAt, context: context
        ) { facts in
            facts.hotelID = received.hotelID
            // Whether it came in a backfill, for its later guest messages (ComplaintFacts.isBackfill).
            let known = facts.isBackfill(maximumAge: maximumAge)
            facts.reportedAt = received.reportedAt
            facts.registeredAt = received.registeredAt
            if !known, facts.isBackfill(maximumAge: maximumAge) {
                // Its guest will hear nothing. A real backfill, or a source whose clock is days behind (a
                // kiosk): then every complaint from it looks like one, and this line is what shows it.
                context.logger.warning("complaint registered long after its report: treated as a backfill, its guest is not messaged", metadata: [
                    "complaint.id": "\(received.complaintID)", "hotel.id": "\(received.hotelID)", "complaint.source": "\(received.source)",
                    "complaint.reported_at": "\(received.reportedAt.formatted(.iso8601))",
                    "complaint.registered_at": "\(received.registeredAt.formatted(.iso8601))",
                ])
            }
            facts.guestLanguage = received.guest.preferredLanguage ?? received.language ?? facts.guestLanguage
            facts.preferredContact = received.guest.preferredContact ?? facts.preferredContact
            return MessageFacts(category: facts.category, severity: facts.severity, statusAfter: .registered)
        }
    }
}

/// `complaints.assigned.v1`: remembers the assignee; tells them (and, on escalation, whoever the rules name).
struct AssignedNotificationHandler: EventHandler {
    var recorder: NotificationRecorder

    func handle(_ event: EventEnvelope<ComplaintAssigned>, context: HandlerContext) async throws -> [OutgoingEvent] {
        let assigned = event.data
        return try await recorder.apply(event, complaintID: assigned.complaintID, trigger: .assigned(assigned.reason), context: context) { facts in
            facts.category = assigned.category
            facts.severity = assigned.severity
            facts.assignee = assigned.assignee
            facts.department = assigned.department
            facts.escalationLevel = assigned.escalationLevel
            return MessageFacts(
                category: assigned.category, severity: assigned.severity, department: assigned.department,
                assigneeName: assigned.assignee.name, assigneeRole: assigned.assignee.role, escalationLevel: assigned.escalationLevel,
                statusAfter: .assigned)
        }
    }
}

/// `complaints.updated.v1`: staff actions (resolved, reopened, …) per the rules.
struct UpdatedNotificationHandler: EventHandler {
    var recorder: NotificationRecorder

    func handle(_ event: EventEnvelope<ComplaintUpdated>, context: HandlerContext) async throws -> [OutgoingEvent] {
        let updated = event.data
        return try await recorder.apply(event, complaintID: updated.complaintID, trigger: .updated(updated.kind), context: context) { facts in
            MessageFacts(
                category: facts.category, severity: facts.severity, department: facts.department, assigneeName: facts.assignee?.name,
                assigneeRole: facts.assignee?.role, escalationLevel: facts.escalationLevel, statusAfter: updated.statusAfter)
        }
    }
}

/// `complaints.sla.v1`: warnings, breaches, escalations, the follow-up survey, the ceiling.
struct SLANotificationHandler: EventHandler {
    var recorder: NotificationRecorder

    func handle(_ event: EventEnvelope<ComplaintSLAEvent>, context: HandlerContext) async throws -> [OutgoingEvent] {
        let clock = event.data
        return try await recorder.apply(event, complaintID: clock.complaintID, trigger: .sla(clock.kind), context: context) { facts in
            facts.severity = clock.severity
            var level = facts.escalationLevel
            if case .escalated(let escalation) = clock.milestone { level = escalation.level }
            return MessageFacts(
                category: facts.category, severity: clock.severity, department: facts.department, assigneeName: facts.assignee?.name,
                assigneeRole: facts.assignee?.role, escalationLevel: level, target: clock.target, deadline: clock.deadline)
        }
    }
}
