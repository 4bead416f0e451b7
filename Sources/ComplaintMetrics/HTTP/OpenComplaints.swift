import ComplaintEvents
import Foundation
import Logging
import PostgresNIO

/// `/v1/open`: the complaints still open at a hotel, nearest deadline first, with what the dashboard's
/// countdowns need (no guest details).
struct OpenComplaints: Codable, Sendable {
    struct Entry: Codable, Sendable {
        var complaintId: UUID
        var hotelId: String
        var category: String?
        var severity: String?
        var status: String?
        var vip: Bool
        var registeredAt: Date
        var acknowledgedAt: Date?
        /// The acknowledge deadline while not acknowledged.
        var acknowledgeBy: Date?
        var resolveBy: Date?
        var escalationLevel: Int
        var breached: Bool
    }

    var at: Date
    var complaints: [Entry]

    static func read(hotels: [String], on connection: PostgresConnection, logger: Logger) async throws -> [Entry] {
        let rows = try await connection.query("""
            SELECT complaint_id, hotel_id, category, severity, status, vip, registered_at, acknowledged_at,
                   CASE WHEN acknowledged_at IS NULL THEN acknowledge_by END, resolve_by, escalation_level,
                   acknowledge_breaches + resolve_breaches > 0
            FROM complaints
            WHERE hotel_id = ANY(\(hotels)) AND is_open AND registered_at IS NOT NULL
            ORDER BY LEAST(CASE WHEN acknowledged_at IS NULL THEN acknowledge_by END, resolve_by) NULLS LAST, registered_at
            LIMIT 500
            """, logger: logger)
        var entries: [Entry] = []
        for try await row in rows.decode((UUID, String, String?, String?, String?, Bool, Date, Date?, Date?, Date?, Int32, Bool).self) {
            entries.append(Entry(
                complaintId: row.0, hotelId: row.1, category: row.2, severity: row.3, status: row.4, vip: row.5, registeredAt: row.6,
                acknowledgedAt: row.7, acknowledgeBy: row.8, resolveBy: row.9, escalationLevel: Int(row.10), breached: row.11))
        }
        return entries
    }
}

