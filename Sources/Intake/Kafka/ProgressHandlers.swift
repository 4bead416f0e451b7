import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import Foundation
import Logging
import PostgresNIO

/// Keeps intake's record current with the classifier's verdict (category, severity, priority; status
/// `received` → `classified`), so staff can filter by them and the timeline shows it: a `classified`
/// entry by the classifier, or, for a manager's correction (``StaffCorrection``), a
/// `classification_corrected` entry by that staff member with the reason and the verdict it replaced.
public struct ClassifiedHandler: EventHandler {
    public init() {}

    public func handle(_ event: EventEnvelope<ComplaintClassified>, context: HandlerContext) async throws -> [OutgoingEvent] {
        let data = event.data
        var details = [
            "category": data.category.rawValue, "severity": data.severity.rawValue, "priority": "\(data.priority)",
        ]
        let kind: String
        let actor: EventActor
        if let correction = StaffCorrection(data.explanation) {
            kind = "classification_corrected"
            // Role `staff`: the event does not say whether a manager or an admin corrected it.
            actor = EventActor(id: correction.staffID ?? "unknown", role: .staff)
            details["reason"] = correction.reason
            details["previousCategory"] = correction.previousCategory
            details["previousSeverity"] = correction.previousSeverity
            details["summary"] = correction.summary
        } else {
            kind = "classified"
            actor = EventActor(id: "classifier", role: .system)
            details["confidence"] = String(format: "%.2f", data.confidence)
        }
        try await recordProgress(
            """
            UPDATE complaints SET category = \(data.category.rawValue), severity = \(data.severity.rawValue),
                priority = \(data.priority),
                status = CASE WHEN status = \(IntakeStatus.received.rawValue) THEN \(IntakeStatus.classified.rawValue) ELSE status END,
                version = version + 1, updated_at = now()
            WHERE id = \(data.complaintID)
            RETURNING status
            """,
            complaintID: data.complaintID, at: data.classifiedAt, kind: kind, actor: actor, details: details, context: context)
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
            complaintID: data.complaintID, at: data.assignedAt, kind: "assigned", actor: EventActor(id: "assignment", role: .system),
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
    _ update: PostgresQuery, complaintID: UUID, at time: Date, kind: String, actor: EventActor,
    details: [String: String], context: HandlerContext
) async throws {
    let rows = try await Timeline.appending(
        to: update, complaintID: complaintID, at: time, kind: kind, actor: actor, details: details,
        on: context.connection, logger: context.logger)
    var found = false
    for try await _ in rows.decode(String.self) { found = true }
    guard found else {
        throw RejectedEvent("data.complaintId: no complaint \(complaintID.uuidString.lowercased()) in intake")
    }
}
