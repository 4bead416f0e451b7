import ComplaintEvents
import ComplaintPipeline

/// `complaints.received.v1` → the complaint's hotel, registration time, channel and guest key.
struct ReceivedFactsHandler: EventHandler {
    var recorder: FactRecorder
    func handle(_ event: EventEnvelope<ComplaintReceived>, context: HandlerContext) async throws -> [OutgoingEvent] {
        try await recorder.received(event, on: context.connection, logger: context.logger)
        return []
    }
}

/// `complaints.classified.v1` → the newest verdict's category and severity.
struct ClassifiedFactsHandler: EventHandler {
    var recorder: FactRecorder
    func handle(_ event: EventEnvelope<ComplaintClassified>, context: HandlerContext) async throws -> [OutgoingEvent] {
        try await recorder.classified(event, on: context.connection, logger: context.logger)
        return []
    }
}

/// `complaints.assigned.v1` → department, first assignment, escalation level.
struct AssignedFactsHandler: EventHandler {
    var recorder: FactRecorder
    func handle(_ event: EventEnvelope<ComplaintAssigned>, context: HandlerContext) async throws -> [OutgoingEvent] {
        try await recorder.assigned(event, on: context.connection, logger: context.logger)
        return []
    }
}

/// `complaints.updated.v1` → acknowledgement, resolutions, reopenings, compensation, follow-up, closing.
struct UpdatedFactsHandler: EventHandler {
    var recorder: FactRecorder
    func handle(_ event: EventEnvelope<ComplaintUpdated>, context: HandlerContext) async throws -> [OutgoingEvent] {
        try await recorder.updated(event, on: context.connection, logger: context.logger)
        return []
    }
}

/// `complaints.sla.v1` → deadlines met and breached, escalations, the open deadlines.
struct SLAFactsHandler: EventHandler {
    var recorder: FactRecorder
    func handle(_ event: EventEnvelope<ComplaintSLAEvent>, context: HandlerContext) async throws -> [OutgoingEvent] {
        try await recorder.sla(event, on: context.connection, logger: context.logger)
        return []
    }
}

/// `notifications.delivered.v1` → receipts per hotel, day, channel and status.
struct NotificationFactsHandler: EventHandler {
    var recorder: FactRecorder
    func handle(_ event: EventEnvelope<NotificationOutcome>, context: HandlerContext) async throws -> [OutgoingEvent] {
        try await recorder.notification(event, on: context.connection, logger: context.logger)
        return []
    }
}
