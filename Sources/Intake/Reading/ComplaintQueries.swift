import Access
import ComplaintEvents
import ComplaintStore
import Foundation
import Logging
import PostgresNIO

/// Filters of `GET /v1/complaints`; every field optional. Values are checked by the HTTP layer.
public struct ComplaintFilter: Sendable, Hashable {
    public var hotelID: String?
    public var status: IntakeStatus?
    public var category: ComplaintCategory?
    public var severity: Severity?
    public var channel: ComplaintChannel?
    /// Registered at or after.
    public var from: Date?
    /// Registered before.
    public var to: Date?
    public var assigneeID: String?
    /// The publishing system's name and its own id for the complaint (given together).
    public var source: String?
    public var externalID: String?
    public var limit: Int = 50
    public var cursor: PageCursor?

    public init() {}
}

/// Where a page of the list ended: the last item's registration time and id (keyset paging, stable
/// under concurrent inserts). Opaque to clients: base64url of a small JSON object.
public struct PageCursor: Sendable, Hashable, Codable {
    /// `registered_at` as PostgreSQL prints it (exact to the microsecond).
    var t: String
    var i: UUID

    public var token: String {
        let data = (try? JSONEncoder().encode(self)) ?? Data()
        return data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    public init?(token: String) {
        var base64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard token.count <= 256, let data = Data(base64Encoded: base64),
              let cursor = try? JSONDecoder().decode(PageCursor.self, from: data),
              Self.isPrintedTimestamp(cursor.t)
        else { return nil }
        self = cursor
    }

    /// A `timestamptz` as PostgreSQL prints it (`2026-12-05 07:22:11.123456+00`): anything else would
    /// fail its cast in the query, a 422 naming no field instead of `query.cursor`.
    nonisolated(unsafe) static let printedTimestamp =
        /(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.\d{1,6})?[+-](\d{2})(?::(\d{2}))?(?::(\d{2}))?/

    /// Whether `text` is a `timestamptz` PostgreSQL printed: the shape, and each field in its range (a
    /// month 13 or a 31 April has the shape and fails the cast, SQLSTATE 22008).
    static func isPrintedTimestamp(_ text: String) -> Bool {
        guard let match = text.wholeMatch(of: printedTimestamp),
              let year = Int(match.1), let month = Int(match.2), let day = Int(match.3),
              let hour = Int(match.4), let minute = Int(match.5), let second = Int(match.6), let offsetHours = Int(match.7)
        else { return false }
        let offsetMinutes = match.8.flatMap { Int($0) } ?? 0
        let offsetSeconds = match.9.flatMap { Int($0) } ?? 0
        guard year >= 1, (1...12).contains(month), hour <= 23, minute <= 59, second <= 59,
              offsetHours <= 15, offsetMinutes <= 59, offsetSeconds <= 59
        else { return false }
        let isLeapYear = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let daysInMonth = [31, isLeapYear ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        return (1...daysInMonth).contains(day)
    }

    init(t: String, i: UUID) {
        self.t = t
        self.i = i
    }
}

/// One page of complaints, as JSON text ready to send.
public struct ComplaintPage: Sendable {
    public var itemsJSON: [String]
    public var nextCursor: PageCursor?
}

/// Reads complaints for the HTTP API, scoped to the caller's hotels, on a connection whose
/// transaction has intake's schema on the `search_path`. The JSON is assembled by PostgreSQL
/// (`jsonb_build_object`), so a read is one statement.
public struct ComplaintQueries: Sendable {
    public init() {}

    /// The complaint with its timeline and compensations, or `nil` if it does not exist *for this
    /// caller* (another hotel's complaint is indistinguishable from a missing one).
    public func complaint(_ id: UUID, for caller: Caller, on connection: PostgresConnection, logger: Logger) async throws -> String? {
        let rows = try await connection.query("""
            SELECT c.hotel_id, (\(unescaped: summaryObject("c"))
                || jsonb_build_object(
                    'source', c.source, 'externalId', c.external_id, 'occurredAt', c.occurred_at,
                    'reportedAt', c.reported_at, 'text', c.text, 'language', c.language, 'guest', c.guest,
                    'guestKey', c.guest_key, 'reporter', c.reporter, 'assignee', c.assignee,
                    'timeline', COALESCE((SELECT jsonb_agg(jsonb_build_object(
                            'at', t.occurred_at, 'kind', t.kind, 'actor', jsonb_build_object('id', t.actor_id, 'role', t.actor_role),
                            'statusAfter', t.status_after, 'details', t.details) ORDER BY t.id)
                        FROM timeline t WHERE t.complaint_id = c.id), '[]'::jsonb),
                    'compensations', COALESCE((SELECT jsonb_agg(jsonb_build_object(
                            'id', m.id, 'kind', m.kind, 'amountMinor', m.amount_minor, 'currency', m.currency,
                            'reason', m.reason, 'state', m.state, 'requestedBy', m.requested_by, 'requestedAt', m.requested_at,
                            'decidedBy', m.decided_by, 'decidedAt', m.decided_at, 'decisionNote', m.decision_note)
                            ORDER BY m.requested_at, m.id)
                        FROM compensations m WHERE m.complaint_id = c.id), '[]'::jsonb)))::text
            FROM complaints c WHERE c.id = \(id)
            """, logger: logger)
        for try await (hotel, json) in rows.decode((String, String).self) {
            return caller.covers(hotel: hotel) ? json : nil
        }
        return nil
    }

    /// A page of complaints matching `filter` in the caller's hotels, newest first.
    public func list(_ filter: ComplaintFilter, for caller: Caller, on connection: PostgresConnection, logger: Logger) async throws -> ComplaintPage {
        let isAdmin = caller.role == .admin
        let hotels = Array(caller.hotels)
        let limit = max(1, min(filter.limit, 200))
        let rows = try await connection.query("""
            SELECT c.registered_at::text, c.id, (\(unescaped: caller.role < .staff ? receiptObject("c") : summaryObject("c")))::text
            FROM complaints c
            WHERE (\(isAdmin) OR c.hotel_id = ANY(\(hotels)))
              AND (\(filter.hotelID)::text IS NULL OR c.hotel_id = \(filter.hotelID))
              AND (\(filter.status?.rawValue)::text IS NULL OR c.status = \(filter.status?.rawValue))
              AND (\(filter.category?.rawValue)::text IS NULL OR c.category = \(filter.category?.rawValue))
              AND (\(filter.severity?.rawValue)::text IS NULL OR c.severity = \(filter.severity?.rawValue))
              AND (\(filter.channel?.rawValue)::text IS NULL OR c.channel = \(filter.channel?.rawValue))
              AND (\(filter.assigneeID)::text IS NULL OR c.assignee_id = \(filter.assigneeID))
              AND (\(filter.source)::text IS NULL OR (c.source = \(filter.source) AND c.external_id = \(filter.externalID)))
              AND (\(filter.from)::timestamptz IS NULL OR c.registered_at >= \(filter.from))
              AND (\(filter.to)::timestamptz IS NULL OR c.registered_at < \(filter.to))
              AND (\(filter.cursor?.t)::timestamptz IS NULL
                   OR (c.registered_at, c.id) < (\(filter.cursor?.t)::timestamptz, \(filter.cursor?.i)::uuid))
            ORDER BY c.registered_at DESC, c.id DESC
            LIMIT \(limit + 1)
            """, logger: logger)
        var items: [String] = []
        var last: PageCursor?
        var more = false
        for try await (registeredAt, id, json) in rows.decode((String, UUID, String).self) {
            if items.count == limit {
                more = true
                break
            }
            items.append(json)
            last = PageCursor(t: registeredAt, i: id)
        }
        return ComplaintPage(itemsJSON: items, nextCursor: more ? last : nil)
    }

    /// What a publishing system sees of a complaint it looks up by its own id: where it stands, nothing
    /// about the guest or the staff (an external id may be guessed; another system's complaint at the
    /// same hotel tells it no more than that it exists).
    private func receiptObject(_ alias: String) -> String {
        """
        jsonb_build_object('id', \(alias).id, 'hotelId', \(alias).hotel_id, 'source', \(alias).source,
            'externalId', \(alias).external_id, 'status', \(alias).status, 'registeredAt', \(alias).registered_at,
            'updatedAt', \(alias).updated_at)
        """
    }

    /// The fields a list item shows: no guest contact details.
    private func summaryObject(_ alias: String) -> String {
        """
        jsonb_build_object('id', \(alias).id, 'hotelId', \(alias).hotel_id, 'channel', \(alias).channel,
            'status', \(alias).status, 'category', \(alias).category, 'severity', \(alias).severity,
            'priority', \(alias).priority, 'assigneeId', \(alias).assignee_id, 'registeredAt', \(alias).registered_at,
            'updatedAt', \(alias).updated_at, 'version', \(alias).version,
            'source', \(alias).source, 'externalId', \(alias).external_id,
            'guestName', \(alias).guest->>'name', 'roomNumber', \(alias).guest->>'roomNumber',
            'vip', COALESCE((\(alias).guest->>'vip')::boolean, false))
        """
    }
}
