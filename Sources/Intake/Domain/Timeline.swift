import ComplaintEvents
import ComplaintStore
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

    /// Runs `update` (a statement changing the complaint's row that returns its `status`) and appends
    /// the entry with that status, in one round trip; returns the status rows (none: no such complaint,
    /// and no entry).
    static func appending(
        to update: PostgresQuery, complaintID: UUID, at time: Date, kind: String, actor: EventActor, details: [String: String],
        on connection: PostgresConnection, logger: Logger
    ) async throws -> PostgresRowSequence {
        let values: [any PostgresEncodable] = [complaintID, time, kind, actor.id, actor.role.rawValue, try jsonText(details)]
        let query = try update.withPart("updated", binding: values) { value in
            """
            , entry AS (
                INSERT INTO timeline (complaint_id, occurred_at, kind, actor_id, actor_role, status_after, details)
                SELECT \(value[0]), \(value[1]), \(value[2]), \(value[3]), \(value[4]), updated.status, \(value[5])::jsonb FROM updated
            )
            SELECT status FROM updated
            """
        }
        return try await connection.query(query, logger: logger)
    }
}
