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
    /// The first ``listLimit`` by deadline: fewer than ``total`` after a backlog built up.
    var complaints: [Entry]
    /// Every open complaint of the hotels, listed or not.
    var total: Int
    /// All open complaints by severity (unclassified ones left out: `total` minus the sum).
    var bySeverity: [String: Int]
    /// All open complaints by status (those without one left out).
    var byStatus: [String: Int]

    /// At most this many are listed.
    static let listLimit = 500

    /// The list and the counts of every open complaint, so a dashboard summing the list does not say
    /// "500 open" beside a backlog of 1,800.
    static func load(hotels: [String], at: Date, limit: Int = listLimit, on connection: PostgresConnection, logger: Logger) async throws -> OpenComplaints {
        let complaints = try await read(hotels: hotels, limit: limit, on: connection, logger: logger)
        let rows = try await connection.query("""
            SELECT severity, status, count(*)
            FROM complaints
            WHERE hotel_id = ANY(\(hotels)) AND is_open AND registered_at IS NOT NULL
            GROUP BY severity, status
            """, logger: logger)
        var open = OpenComplaints(at: at, complaints: complaints, total: 0, bySeverity: [:], byStatus: [:])
        for try await (severity, status, count) in rows.decode((String?, String?, Int64).self) {
            open.total += Int(count)
            if let severity { open.bySeverity[severity, default: 0] += Int(count) }
            if let status { open.byStatus[status, default: 0] += Int(count) }
        }
        return open
    }

    static func read(hotels: [String], limit: Int = listLimit, on connection: PostgresConnection, logger: Logger) async throws -> [Entry] {
        let rows = try await connection.query("""
            SELECT complaint_id, hotel_id, category, severity, status, vip, registered_at, acknowledged_at,
                   CASE WHEN acknowledged_at IS NULL THEN acknowledge_by END, resolve_by, escalation_level,
                   acknowledge_breaches + resolve_breaches > 0
            FROM complaints
            WHERE hotel_id = ANY(\(hotels)) AND is_open AND registered_at IS NOT NULL
            ORDER BY LEAST(CASE WHEN acknowledged_at IS NULL THEN acknowledge_by END, resolve_by) NULLS LAST, registered_at
            LIMIT \(limit)
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

