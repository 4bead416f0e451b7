import ComplaintEvents
import Foundation
import Logging
import PostgresNIO

/// What the notifier remembers of a complaint (its `complaints` table): enough to decide who is told and
/// in which language when a later event (a clock warning, a resolution) carries less.
public struct ComplaintFacts: Sendable, Hashable {
    public var complaintID: UUID
    public var hotelID: String
    public var category: ComplaintCategory?
    public var severity: Severity?
    public var guestLanguage: String?
    public var preferredContact: ContactChannel?
    public var assignee: Assignee?
    public var department: String?
    public var escalationLevel: Int = 0
    /// When the guest reported the complaint and when intake registered it (`complaints.received.v1`);
    /// `nil` until the registration is read. Far apart, the complaint came in a backfill: see ``isBackfill(maximumAge:)``.
    public var reportedAt: Date?
    public var registeredAt: Date?

    public init(complaintID: UUID, hotelID: String) {
        self.complaintID = complaintID
        self.hotelID = hotelID
    }

    /// Whether intake registered the complaint more than `maximumAge` after the guest reported it (a backfill
    /// of old complaints, a connector that lagged that long): none of its guest messages is sent, whenever
    /// its later events happen (a bulk resolution today). Zero: no limit; `false` before the registration is read.
    public func isBackfill(maximumAge: Duration) -> Bool {
        let maximum = Double(maximumAge.components.seconds)
        guard maximum > 0, let reportedAt, let registeredAt else { return false }
        return registeredAt.timeIntervalSince(reportedAt) > maximum
    }
}

/// Reads and writes ``ComplaintFacts`` on the handler's connection (the notifier's schema on the path).
enum ComplaintFactsStore {
    /// The complaint's facts, locked for this transaction; a row is created first if there is none, so two
    /// events of one complaint handled at once wait for each other. One round trip: the upsert's no-op
    /// update takes the row's lock and returns what is stored.
    static func lock(_ complaintID: UUID, hotelID: String, on connection: PostgresConnection, logger: Logger) async throws -> ComplaintFacts {
        let rows = try await connection.query("""
            INSERT INTO complaints AS c (complaint_id, hotel_id) VALUES (\(complaintID), \(hotelID))
            ON CONFLICT (complaint_id) DO UPDATE SET hotel_id = c.hotel_id
            RETURNING c.hotel_id, c.category, c.severity, c.guest_language, c.preferred_contact, c.assignee_id, c.assignee_name,
                      c.assignee_role, c.department, c.escalation_level, c.reported_at, c.registered_at
            """, logger: logger)
        for try await row in rows.decode((String, String?, String?, String?, String?, String?, String?, String?, String?, Int, Date?, Date?).self) {
            var facts = ComplaintFacts(complaintID: complaintID, hotelID: row.0)
            facts.category = row.1.flatMap(ComplaintCategory.init(rawValue:))
            facts.severity = row.2.flatMap(Severity.init(rawValue:))
            facts.guestLanguage = row.3
            facts.preferredContact = row.4.flatMap(ContactChannel.init(rawValue:))
            if let id = row.5, let name = row.6, let role = row.7.flatMap(ActorRole.init(rawValue:)) {
                facts.assignee = Assignee(staffID: id, name: name, role: role)
            }
            facts.department = row.8
            facts.escalationLevel = row.9
            facts.reportedAt = row.10
            facts.registeredAt = row.11
            return facts
        }
        return ComplaintFacts(complaintID: complaintID, hotelID: hotelID)
    }

    static func save(_ facts: ComplaintFacts, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            UPDATE complaints SET hotel_id = \(facts.hotelID), category = \(facts.category?.rawValue), severity = \(facts.severity?.rawValue),
                guest_language = \(facts.guestLanguage), preferred_contact = \(facts.preferredContact?.rawValue),
                assignee_id = \(facts.assignee?.staffID), assignee_name = \(facts.assignee?.name), assignee_role = \(facts.assignee?.role.rawValue),
                department = \(facts.department), escalation_level = \(facts.escalationLevel),
                reported_at = \(facts.reportedAt), registered_at = \(facts.registeredAt), updated_at = now()
            WHERE complaint_id = \(facts.complaintID)
            """, logger: logger)
    }
}

/// Notifications for the assignee whose cause came before anyone was assigned (the `awaiting_assignee`
/// table): held, then planned when an assignment names someone.
enum AwaitingAssignee {
    struct Held {
        var trigger: NotificationTrigger
        var cause: (id: UUID, time: Date)
        var details: MessageFacts
    }

    static func hold(
        _ trigger: NotificationTrigger, cause: (id: UUID, time: Date), details: MessageFacts, of facts: ComplaintFacts,
        on connection: PostgresConnection, logger: Logger
    ) async throws {
        let json = String(decoding: try JSONEncoder().encode(details), as: UTF8.self)
        try await connection.query("""
            INSERT INTO awaiting_assignee (complaint_id, trigger, cause_event_id, cause_time, details)
            VALUES (\(facts.complaintID), \(trigger.name), \(cause.id), \(cause.time), \(json)::jsonb)
            ON CONFLICT DO NOTHING
            """, logger: logger)
    }

    /// Takes what was held for the complaint, oldest cause first.
    static func release(of facts: ComplaintFacts, on connection: PostgresConnection, logger: Logger) async throws -> [Held] {
        let rows = try await connection.query("""
            DELETE FROM awaiting_assignee WHERE complaint_id = \(facts.complaintID)
            RETURNING trigger, cause_event_id, cause_time, details::text
            """, logger: logger)
        var held: [Held] = []
        for try await (trigger, id, time, details) in rows.decode((String, UUID, Date, String).self) {
            held.append(Held(
                trigger: NotificationTrigger(trigger), cause: (id, time), details: try JSONDecoder().decode(MessageFacts.self, from: Data(details.utf8))))
        }
        return held.sorted { ($0.cause.time, $0.trigger.name) < ($1.cause.time, $1.trigger.name) }
    }
}
