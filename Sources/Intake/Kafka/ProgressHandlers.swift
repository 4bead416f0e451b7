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
        let rows = try await context.connection.query("""
            UPDATE complaints SET category = \(data.category.rawValue), severity = \(data.severity.rawValue),
                priority = \(data.priority),
                status = CASE WHEN status = \(IntakeStatus.received.rawValue) THEN \(IntakeStatus.classified.rawValue) ELSE status END,
                version = version + 1, updated_at = now()
            WHERE id = \(data.complaintID)
            RETURNING status
            """, logger: context.logger)
        try await recordProgress(
            rows, complaintID: data.complaintID, at: data.classifiedAt, kind: "classified", by: "classifier",
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
        let rows = try await context.connection.query("""
            UPDATE complaints SET assignee_id = \(data.assignee.staffID), assignee = \(assignee)::jsonb,
                category = COALESCE(category, \(data.category.rawValue)), severity = COALESCE(severity, \(data.severity.rawValue)),
                status = CASE WHEN status IN (\(IntakeStatus.received.rawValue), \(IntakeStatus.classified.rawValue))
                    THEN \(IntakeStatus.assigned.rawValue) ELSE status END,
                version = version + 1, updated_at = now()
            WHERE id = \(data.complaintID)
            RETURNING status
            """, logger: context.logger)
        try await recordProgress(
            rows, complaintID: data.complaintID, at: data.assignedAt, kind: "assigned", by: "assignment",
            details: [
                "department": data.department, "assignee": data.assignee.staffID, "reason": data.reason.rawValue,
                "escalationLevel": "\(data.escalationLevel)",
            ],
            context: context)
        return []
    }
}

/// The common tail of the followers: the `UPDATE … RETURNING status` found the complaint (else the
/// event is dead-lettered: it names a complaint intake never registered), and the timeline says so.
private func recordProgress(
    _ rows: PostgresRowSequence, complaintID: UUID, at time: Date, kind: String, by service: String,
    details: [String: String], context: HandlerContext
) async throws {
    var statusAfter: IntakeStatus?
    for try await status in rows.decode(String.self) { statusAfter = IntakeStatus(rawValue: status) }
    guard let statusAfter else {
        throw RejectedEvent("data.complaintId: no complaint \(complaintID.uuidString.lowercased()) in intake")
    }
    try await Timeline.append(
        complaintID: complaintID, at: time, kind: kind, actor: EventActor(id: service, role: .system),
        statusAfter: statusAfter, details: details, on: context.connection, logger: context.logger)
}
