import ComplaintEvents
import Foundation
import Logging
import PostgresNIO

/// The append-only audit trail of a complaint (`intake.timeline`): one entry per thing that
/// happened to it, who did it and the status after. Written on a connection whose transaction has
/// intake's schema on the `search_path`.
enum Timeline {
    static func append(
        complaintID: UUID, at time: Date, kind: String, actor: EventActor, statusAfter: IntakeStatus,
        details: [String: String]? = nil, detailsJSON: String? = nil,
        on connection: PostgresConnection, logger: Logger
    ) async throws {
        let json = try detailsJSON ?? details.map { try jsonText($0) }
        try await connection.query("""
            INSERT INTO timeline (complaint_id, occurred_at, kind, actor_id, actor_role, status_after, details)
            VALUES (\(complaintID), \(time), \(kind), \(actor.id), \(actor.role.rawValue), \(statusAfter.rawValue), \(json)::jsonb)
            """, logger: logger)
    }
}
