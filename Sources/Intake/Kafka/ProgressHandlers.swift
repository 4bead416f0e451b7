import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import Foundation
import Logging
import PostgresNIO

/// Keeps intake's record current with the classifier's verdict (category, severity, priority; status
/// `received` → `classified`), so staff can filter by them and the timeline shows it.
public struct ClassifiedHandler: EventHandler {
    public init() {}

    public func handle(_ event: EventEnvelope<ComplaintClassified>, context: HandlerContext) async throws -> [OutgoingEvent] {
        let data = event.data
        try await recordProgress(
            """
            UPDATE complaints SET category = \(data.category.rawValue), severity = \(data.severity.rawValue),
                priority = \(data.priority),
                status = CASE WHEN status = \(IntakeStatus.received.rawValue) THEN \(IntakeStatus.classified.rawValue) ELSE status END,
                version = version + 1, updated_at = now()
            WHERE id = \(data.complaintID)
            RETURNING status
            """,
            complaintID: data.complaintID, at: data.classifiedAt, kind: "classified", by: "classifier",
            details: [
                "category": data.category.rawValue, "severity": data.severity.rawValue, "priority": "\(data.priority)",
                "confidence": String(format: "%.2f", data.confidence),
            ],
            context: context)
        return []
    }
}

/// Records who owns a complaint once assignment picked someone (status → `assigned` unless staff
/// already acknowledged it); escalations re-assign.
public struct AssignedHandler: EventHandler {
    public init() {}

    public func handle(_ event: EventEnvelope<ComplaintAssigned>, context: HandlerContext) async throws -> [OutgoingEvent] {
        let data = event.data
        let assignee = try jsonText(data.assignee)
        try await recordProgress(
            """
            UPDATE complaints SET assignee_id = \(data.assignee.staffID), assignee = \(assignee)::jsonb,
                category = COALESCE(category, \(data.category.rawValue)), severity = COALESCE(severity, \(data.severity.rawValue)),
                status = CASE WHEN status IN (\(IntakeStatus.received.rawValue), \(IntakeStatus.classified.rawValue))
                    THEN \(IntakeStatus.assigned.rawValue) ELSE status END,
                version = version + 1, updated_at = now()
            WHERE id = \(data.complaintID)
            RETURNING status
            """,
            complaintID: data.complaintID, at: data.assignedAt, kind: "assigned", by: "assignment",
            details: [
                "department": data.department, "assignee": data.assignee.staffID, "reason": data.reason.rawValue,
                "escalationLevel": "\(data.escalationLevel)",
            ],
            context: context)
        return []
    }
}

/// The common part of the followers: `update` (an `UPDATE … RETURNING status` of the complaint) and
/// the timeline entry saying so, in one statement. No row: the event names a complaint intake never
/// registered, and is dead-lettered.
private func recordProgress(
    _ update: PostgresQuery, complaintID: UUID, at time: Date, kind: String, by service: String,
    details: [String: String], context: HandlerContext
) async throws {
    let rows = try await Timeline.appending(
        to: update, complaintID: complaintID, at: time, kind: kind, actor: EventActor(id: service, role: .system), details: details,
        on: context.connection, logger: context.logger)
    var found = false
    for try await _ in rows.decode(String.self) { found = true }
    guard found else {
        throw RejectedEvent("data.complaintId: no complaint \(complaintID.uuidString.lowercased()) in intake")
    }
}
