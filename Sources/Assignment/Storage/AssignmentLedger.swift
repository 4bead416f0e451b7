import ComplaintEvents
import Foundation
import Logging
import PostgresNIO

/// The complaints assignment knows (their facts, status and current owner) and the history of every
/// assignment, in the assignment schema. Open loads are counted from it, so a redelivered event can
/// never make them drift.
public struct AssignmentLedger: Sendable {
    public init() {}

    /// A complaint as assignment last saw it.
    public struct ComplaintRecord: Sendable, Hashable {
        public var complaintID: UUID
        public var hotelID: String
        /// `nil` until the classification arrived.
        public var facts: ComplaintFacts?
        public var status: Status
        public var department: String?
        public var staffID: String?
        public var escalationLevel: Int
        /// How many assignments it had (0: none yet).
        public var version: Int
        /// When the status update its status comes from happened (`nil`: none yet, or not known, as for
        /// rows stored before migration 0006; not read by ``AssignmentLedger/recordClassification(_:classifiedAt:on:logger:)``).
        public var statusAt: Date? = nil
    }

    /// Whether a complaint counts against its owner's capacity.
    public enum Status: String, Sendable, Hashable {
        case open
        case resolved
        case closed
    }

    /// The complaint, locked for the transaction (`FOR UPDATE`).
    public func complaint(_ id: UUID, on connection: PostgresConnection, logger: Logger) async throws -> ComplaintRecord? {
        let rows = try await connection.query("""
            SELECT hotel_id, category, severity, priority, language, vip, safety, registered_at, status, department, staff_id,
                escalation_level, version, status_at
            FROM complaints WHERE complaint_id = \(id) FOR UPDATE
            """, logger: logger)
        for try await (hotelID, category, severity, priority, language, vip, safety, registeredAt, status, department, staffID, level, version, statusAt)
            in rows.decode((String, String?, String?, Int16?, String?, Bool, Bool, Date?, String, String?, String?, Int16, Int, Date?).self)
        {
            var facts: ComplaintFacts?
            if let category = category.flatMap(ComplaintCategory.init(rawValue:)), let severity = severity.flatMap(Severity.init(rawValue:)),
               let priority, let language, let registeredAt
            {
                facts = ComplaintFacts(
                    complaintID: id, hotelID: hotelID, category: category, severity: severity, priority: Int(priority),
                    language: language, isVIP: vip, involvesSafety: safety, registeredAt: registeredAt)
            }
            return ComplaintRecord(
                complaintID: id, hotelID: hotelID, facts: facts, status: Status(rawValue: status) ?? .open, department: department,
                staffID: staffID, escalationLevel: Int(level), version: version, statusAt: statusAt)
        }
        return nil
    }

    /// Where a complaint stands, as a verdict's prepare step reads it (no lock): whether the verdict may
    /// assign it through the dispatcher.
    public struct Standing: Sendable, Hashable {
        public var hotelID: String
        public var version: Int
        /// The verdict its facts come from (`nil`: not classified yet).
        public var classifiedAt: Date?
        public var status: Status
        public var department: String?
        public var staffID: String?
        public var escalationLevel: Int
        /// As ``ClassificationRecorded/acknowledged``.
        public var acknowledged: Bool
    }

    /// The complaint's standing, `nil` when assignment never saw it; read without locking.
    public func standing(of id: UUID, on connection: PostgresConnection, logger: Logger) async throws -> Standing? {
        let rows = try await connection.query("""
            SELECT hotel_id, version, classified_at, status, department, staff_id, escalation_level,
                acknowledged_at IS NOT NULL OR NOT acknowledgement_known
            FROM complaints WHERE complaint_id = \(id)
            """, logger: logger)
        for try await (hotelID, version, classifiedAt, status, department, staffID, level, acknowledged)
            in rows.decode((String, Int, Date?, String, String?, String?, Int16, Bool).self)
        {
            return Standing(
                hotelID: hotelID, version: version, classifiedAt: classifiedAt, status: Status(rawValue: status) ?? .open,
                department: department, staffID: staffID, escalationLevel: Int(level), acknowledged: acknowledged)
        }
        return nil
    }

    /// What the first assignment of a classified complaint needs, read under the hotel's lock.
    public struct ClassificationRecorded: Sendable {
        /// The hotel's organisation revision, locked for the transaction.
        public var revision: Int64
        /// The complaint as it now stands (its row locked too).
        public var complaint: ComplaintRecord
        /// Open complaints per staff id at the hotel.
        public var loads: [String: Int]
        /// Whom each department's round robin served last.
        public var turns: [String: String]
        /// Whether this verdict's facts were stored: `false` when the complaint already has facts from a
        /// verdict as new or newer (a late or repeated one), which then stay, or belongs to another hotel
        /// than the verdict names (``complaint``'s `hotelID` is the complaint's own, migration 0006).
        public var applied: Bool
        /// Whether staff have acknowledged the complaint (before or after its first assignment).
        public var acknowledged: Bool
    }

    /// Takes the hotel's lock, stores the complaint's classification (creating its row, or filling one a
    /// status update made first) if the verdict, made at `classifiedAt`, is newer than the one its facts
    /// come from and the complaint is the hotel's (a complaint of another hotel is left alone and
    /// returned with its own hotel id), and returns it with the hotel's open loads and round-robin turns: one round trip
    /// (`record_classification`, migrations 0002, 0004, 0005 and 0006), since every round trip under the hotel's
    /// lock is time the hotel's other complaints wait. `nil`: the hotel is unknown.
    public func recordClassification(
        _ facts: ComplaintFacts, classifiedAt: Date, on connection: PostgresConnection, logger: Logger
    ) async throws -> ClassificationRecorded? {
        let rows = try await connection.query("""
            SELECT o_revision, o_status, o_department, o_staff_id, o_escalation_level, o_version, o_loads::text, o_turns::text,
                o_applied, o_acknowledged, o_hotel_id
            FROM record_classification(\(facts.complaintID), \(facts.hotelID), \(facts.category.rawValue), \(facts.severity.rawValue),
                \(Int16(facts.priority)), \(facts.language), \(facts.isVIP), \(facts.involvesSafety), \(facts.registeredAt), \(classifiedAt))
            """, logger: logger)
        for try await (revision, status, department, staffID, level, version, loads, turns, applied, acknowledged, hotelID)
            in rows.decode((Int64, String, String?, String?, Int16, Int, String, String, Bool, Bool, String).self)
        {
            let decoder = JSONDecoder()
            return ClassificationRecorded(
                revision: revision,
                complaint: ComplaintRecord(
                    complaintID: facts.complaintID, hotelID: hotelID, facts: facts, status: Status(rawValue: status) ?? .open,
                    department: department, staffID: staffID, escalationLevel: Int(level), version: version),
                loads: try decoder.decode([String: Int].self, from: Data(loads.utf8)),
                turns: try decoder.decode([String: String].self, from: Data(turns.utf8)),
                applied: applied, acknowledged: acknowledged)
        }
        return nil
    }

    /// What a status update did.
    public enum StatusUpdate: Sendable, Hashable {
        case applied
        /// Older than the update the stored status comes from: nothing changed.
        case older
        /// The complaint is another hotel's (this one, the stored hotel id): nothing changed.
        case otherHotel(String)
    }

    /// Sets a complaint's status from a status update that happened at `occurredAt`, creating a bare row
    /// when the update came before the classification. Only an update at least as new as the one the
    /// stored status comes from is applied (migration 0006; a row without one takes any): a `reopened`
    /// redriven after the complaint was resolved and closed again (an older `occurredAt`) leaves it closed.
    /// One at the same instant is applied: a complaint's updates are keyed by its id, so they are read in
    /// the order they were made, and a scripted resolve-then-reopen within one millisecond ends open
    /// (the inbox already drops a redelivery of the same event). A complaint of another hotel
    /// than `hotelID` is left alone. One round trip.
    @discardableResult
    public func setStatus(
        _ status: Status, of id: UUID, hotelID: String, at occurredAt: Date, on connection: PostgresConnection, logger: Logger
    ) async throws -> StatusUpdate {
        // The outer SELECT sees the row as it was before the statement: NULL for one it creates.
        let rows = try await connection.query("""
            WITH applied AS (
                INSERT INTO complaints AS c (complaint_id, hotel_id, status, status_at) VALUES (\(id), \(hotelID), \(status.rawValue), \(occurredAt))
                ON CONFLICT (complaint_id) DO UPDATE SET status = excluded.status, status_at = excluded.status_at, updated_at = now()
                WHERE c.hotel_id = excluded.hotel_id AND (c.status_at IS NULL OR c.status_at <= excluded.status_at)
                RETURNING true
            )
            SELECT EXISTS (SELECT 1 FROM applied), (SELECT hotel_id FROM complaints WHERE complaint_id = \(id))
            """, logger: logger)
        for try await (applied, stored) in rows.decode((Bool, String?).self) {
            if applied { return .applied }
            if let stored, stored != hotelID { return .otherHotel(stored) }
            return .older
        }
        return .older
    }

    /// Remembers who acknowledged a complaint before its first assignment (creating a bare row when the
    /// acknowledgement came before the classification); the first to acknowledge counts.
    public func noteEarlyAcknowledgement(
        by staffID: String, of id: UUID, hotelID: String, on connection: PostgresConnection, logger: Logger
    ) async throws {
        try await connection.query("""
            INSERT INTO complaints (complaint_id, hotel_id, status, acknowledged_by, acknowledged_at)
            VALUES (\(id), \(hotelID), 'open', \(staffID), now())
            ON CONFLICT (complaint_id) DO UPDATE SET acknowledged_by = COALESCE(complaints.acknowledged_by, excluded.acknowledged_by),
                acknowledged_at = COALESCE(complaints.acknowledged_at, excluded.acknowledged_at), updated_at = now()
            """, logger: logger)
    }

    /// Remembers that staff acknowledged the complaint (the first time counts), creating a bare row when
    /// the acknowledgement came before the classification. A complaint of another hotel is left alone.
    public func noteAcknowledgement(of id: UUID, hotelID: String, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            INSERT INTO complaints AS c (complaint_id, hotel_id, status, acknowledged_at) VALUES (\(id), \(hotelID), 'open', now())
            ON CONFLICT (complaint_id) DO UPDATE SET acknowledged_at = now(), updated_at = now()
            WHERE c.hotel_id = excluded.hotel_id AND c.acknowledged_at IS NULL
            """, logger: logger)
    }

    /// Who acknowledged the complaint before its first assignment, if anyone did.
    public func earlyAcknowledgement(of id: UUID, on connection: PostgresConnection, logger: Logger) async throws -> String? {
        let rows = try await connection.query("SELECT acknowledged_by FROM complaints WHERE complaint_id = \(id)", logger: logger)
        for try await staffID in rows.decode(String?.self) { return staffID }
        return nil
    }

    /// One assignment, as stored in the history.
    public struct Entry: Sendable, Hashable, Codable {
        public var version: Int
        public var department: String
        public var staffID: String
        public var staffName: String
        public var role: String
        public var strategy: String
        public var reason: AssignmentReason
        public var escalationLevel: Int
        public var explanation: String
        public var assignedAt: Date
        public var eventID: UUID

        enum CodingKeys: String, CodingKey {
            case version, department, staffID = "staffId", staffName, role, strategy, reason, escalationLevel, explanation, assignedAt
            case eventID = "eventId"
        }
    }

    /// Records assignment `entry.version` of `complaint` and makes it the current one; with `takesTurn`,
    /// its person becomes the one the department's round robin served last. The history's primary key
    /// (complaint, version) makes a second writer of the same version fail.
    public func record(
        _ entry: Entry, of complaint: ComplaintRecord, takesTurn: Bool = false, on connection: PostgresConnection, logger: Logger
    ) async throws {
        // One round trip: the history row, the round-robin turn, then the current owner.
        try await connection.query("""
            WITH history AS (
                INSERT INTO assignments (complaint_id, version, hotel_id, department, staff_id, staff_name, staff_role, strategy,
                    reason, escalation_level, explanation, assigned_at, event_id)
                VALUES (\(complaint.complaintID), \(entry.version), \(complaint.hotelID), \(entry.department), \(entry.staffID),
                    \(entry.staffName), \(entry.role), \(entry.strategy), \(entry.reason.rawValue), \(Int16(entry.escalationLevel)),
                    \(entry.explanation), \(entry.assignedAt), \(entry.eventID))
                RETURNING complaint_id
            ), turn AS (
                INSERT INTO round_robin (hotel_id, department, last_staff_id)
                SELECT \(complaint.hotelID), \(entry.department), \(entry.staffID) WHERE \(takesTurn)
                ON CONFLICT (hotel_id, department) DO UPDATE SET last_staff_id = excluded.last_staff_id
            )
            UPDATE complaints SET staff_id = \(entry.staffID), department = \(entry.department), version = \(entry.version),
                escalation_level = \(Int16(entry.escalationLevel)), updated_at = now()
            FROM history WHERE complaints.complaint_id = history.complaint_id AND complaints.version = \(entry.version - 1)
            """, logger: logger)
    }

    /// Whom `department`'s round robin at a hotel served last (`nil`: nobody yet), as the first
    /// assignment reads it in ``recordClassification(_:classifiedAt:on:logger:)``.
    public func lastInTurn(department: String, hotelID: String, on connection: PostgresConnection, logger: Logger) async throws -> String? {
        let rows = try await connection.query(
            "SELECT last_staff_id FROM round_robin WHERE hotel_id = \(hotelID) AND department = \(department)", logger: logger)
        for try await staffID in rows.decode(String.self) { return staffID }
        return nil
    }

    /// Open complaints per staff id at a hotel.
    public func openLoads(hotelID: String, on connection: PostgresConnection, logger: Logger) async throws -> [String: Int] {
        let rows = try await connection.query("""
            SELECT staff_id, count(*)::int FROM complaints
            WHERE hotel_id = \(hotelID) AND status = 'open' AND staff_id IS NOT NULL GROUP BY staff_id
            """, logger: logger)
        var loads: [String: Int] = [:]
        for try await (staffID, count) in rows.decode((String, Int).self) { loads[staffID] = count }
        return loads
    }

    /// Every assignment of a complaint, oldest first, with its hotel (`nil` when assignment never saw it).
    public func history(of id: UUID, on connection: PostgresConnection, logger: Logger) async throws -> (hotelID: String, entries: [Entry])? {
        let hotelRows = try await connection.query("SELECT hotel_id FROM complaints WHERE complaint_id = \(id)", logger: logger)
        var hotelID: String?
        for try await hotel in hotelRows.decode(String.self) { hotelID = hotel }
        guard let hotelID else { return nil }
        let rows = try await connection.query("""
            SELECT version, department, staff_id, staff_name, staff_role, strategy, reason, escalation_level, explanation,
                assigned_at, event_id
            FROM assignments WHERE complaint_id = \(id) ORDER BY version
            """, logger: logger)
        var entries: [Entry] = []
        for try await (version, department, staffID, name, role, strategy, reason, level, explanation, assignedAt, eventID) in rows.decode(
            (Int, String, String, String, String, String, String, Int16, String, Date, UUID).self)
        {
            entries.append(Entry(
                version: version, department: department, staffID: staffID, staffName: name, role: role, strategy: strategy,
                reason: AssignmentReason(rawValue: reason) ?? .initial, escalationLevel: Int(level), explanation: explanation,
                assignedAt: assignedAt, eventID: eventID))
        }
        return (hotelID, entries)
    }
}
