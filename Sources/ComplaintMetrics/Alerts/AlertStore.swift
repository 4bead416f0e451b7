import ComplaintEvents
import Foundation
import Logging
import PostgresNIO

/// The `alerts` table: one row per early-warning episode, open until it clears.
public enum AlertStore {
    /// An episode as the API shows it.
    public struct Episode: Codable, Sendable, Hashable {
        public var alertId: UUID
        public var hotelId: String
        public var kind: EarlyWarningAlert.Kind
        /// The category, currency or SLA target it is about.
        public var subject: String
        public var severity: AlertSeverity
        public var observed: Double
        public var baseline: Double
        public var pValue: Double?
        public var windowStart: Date
        public var windowEnd: Date
        public var raisedAt: Date
        public var clearedAt: Date?
    }

    static let columns = "alert_id, hotel_id, kind, subject, severity, observed, baseline, p_value, window_start, window_end, raised_at, cleared_at"

    static func decode(_ rows: PostgresRowSequence) async throws -> [Episode] {
        var episodes: [Episode] = []
        for try await row in rows.decode((UUID, String, String, String, String, Double, Double, Double?, Date, Date, Date, Date?).self) {
            guard let kind = EarlyWarningAlert.Kind(rawValue: row.2), let severity = AlertSeverity(rawValue: row.4) else { continue }
            episodes.append(Episode(
                alertId: row.0, hotelId: row.1, kind: kind, subject: row.3, severity: severity, observed: row.5, baseline: row.6,
                pValue: row.7, windowStart: row.8, windowEnd: row.9, raisedAt: row.10, clearedAt: row.11))
        }
        return episodes
    }

    /// The newest episodes of `hotels` (only open ones when `activeOnly`), at most 200.
    public static func list(hotels: [String], activeOnly: Bool, on connection: PostgresConnection, logger: Logger) async throws -> [Episode] {
        try await decode(try await connection.query("""
            SELECT \(unescaped: columns) FROM alerts
            WHERE hotel_id = ANY(\(hotels)) AND (NOT \(activeOnly) OR cleared_at IS NULL)
            ORDER BY raised_at DESC LIMIT 200
            """, logger: logger))
    }

    /// Open episodes counted per hotel, kind and severity (for the gauges: no cap).
    static func activeCounts(on connection: PostgresConnection, logger: Logger) async throws -> [(hotel: String, kind: String, severity: String, count: Int)] {
        var counts: [(hotel: String, kind: String, severity: String, count: Int)] = []
        let rows = try await connection.query(
            "SELECT hotel_id, kind, severity, count(*) FROM alerts WHERE cleared_at IS NULL GROUP BY 1, 2, 3", logger: logger)
        for try await (hotel, kind, severity, count) in rows.decode((String, String, String, Int64).self) {
            counts.append((hotel, kind, severity, Int(count)))
        }
        return counts
    }

    /// Every open episode, locked for this transaction.
    static func open(on connection: PostgresConnection, logger: Logger) async throws -> [Episode] {
        try await decode(try await connection.query(
            "SELECT \(unescaped: columns) FROM alerts WHERE cleared_at IS NULL FOR UPDATE", logger: logger))
    }

    static func insert(_ episode: Episode, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            INSERT INTO alerts (\(unescaped: columns))
            VALUES (\(episode.alertId), \(episode.hotelId), \(episode.kind.rawValue), \(episode.subject), \(episode.severity.rawValue),
                    \(episode.observed), \(episode.baseline), \(episode.pValue), \(episode.windowStart), \(episode.windowEnd),
                    \(episode.raisedAt), \(episode.clearedAt))
            """, logger: logger)
    }

    /// An open episode that worsened: its severity and the figures that made it so.
    static func worsen(_ id: UUID, to measurement: AlertMeasurement, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            UPDATE alerts SET severity = \(measurement.severity.rawValue), observed = \(measurement.observed), baseline = \(measurement.baseline),
                p_value = \(measurement.pValue), window_start = \(measurement.window.start), window_end = \(measurement.window.end)
            WHERE alert_id = \(id)
            """, logger: logger)
    }

    static func clear(_ id: UUID, at: Date, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("UPDATE alerts SET cleared_at = \(at) WHERE alert_id = \(id)", logger: logger)
    }
}

/// `/v1/alerts`.
struct AlertList: Codable, Sendable {
    var alerts: [AlertStore.Episode]
}
