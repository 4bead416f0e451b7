import ComplaintEvents
import ComplaintStore
import Foundation
import Logging
import PostgresNIO

/// The `classifier` schema's tables (`classifications`, `guest_history`), written on the
/// pipeline's transaction connection (whose `search_path` is the service's schema, so the tables
/// are named plainly). Inserts are idempotent (`ON CONFLICT DO NOTHING`), on top of the inbox, so
/// even a re-registered complaint is classified and counted once.
public struct ClassificationStore: Sendable {
    public init() {}

    /// Waits until no other transaction of the classifier is reading or recording this guest's
    /// complaints at this hotel. Two complaints of one guest arrive on different partitions and may be
    /// classified at the same moment (a backlog after an outage is read that way): without the lock
    /// each reads the history before the other has recorded itself, and neither is a repeat — nor the
    /// third of a stay serious. With it the second waits, then sees the first.
    ///
    /// The lock's key space is named after the schema the connection works in (``guestLockSpace`` +
    /// the schema: `redress.classifier.guest:classifier` for the live service), so a replay into a
    /// `classifier_replay_…` schema of its own never waits on the live service's guests, nor they on it.
    /// A transaction that took the lock already (the stage's shared transactions take their guests'
    /// locks first, ``lockGuests(_:on:logger:)``) gets it again at once.
    public func lockGuest(of visit: GuestVisit, on connection: PostgresConnection, logger: Logger) async throws {
        try await lockGuests([visit.lockSubject], on: connection, logger: logger)
    }

    /// The guest locks of ``lockGuest(of:on:logger:)`` for several subjects (``GuestVisit/lockSubject``),
    /// each once, in the order of their hashed keys, whatever order they are given in: two transactions
    /// taking overlapping sets never wait on each other in a cycle (even when two subjects share a hash).
    public func lockGuests(_ subjects: [String], on connection: PostgresConnection, logger: Logger) async throws {
        guard !subjects.isEmpty else { return }
        // Locked as the sorted keys come out of the subquery, so in key order.
        _ = try await connection.query(
            """
            SELECT pg_advisory_xact_lock(hashtext(\(Self.guestLockSpace) || coalesce(current_schema(), '')), key)
            FROM (SELECT DISTINCT hashtext(subject) AS key FROM unnest(\(subjects)::text[]) AS s(subject) ORDER BY key) AS ordered
            """,
            logger: logger
        ).collect()
    }

    /// The guest lock's key space without its schema (see ``lockGuest(of:on:logger:)``).
    public static let guestLockSpace = "redress.classifier.guest:"

    /// How many earlier complaints of this guest the schema holds (see ``GuestVisit/summary(of:)``).
    public func history(for visit: GuestVisit, on connection: PostgresConnection, logger: Logger) async throws -> GuestHistorySummary {
        let windowStart = visit.registeredAt.addingTimeInterval(-GuestVisit.repeatWindow)
        let rows = try await connection.query(
            """
            SELECT (count(*) FILTER (WHERE reservation_ref = \(visit.reservationReference)))::int,
                   (count(*) FILTER (WHERE registered_at >= \(windowStart)))::int
            FROM guest_history
            WHERE guest_key = \(visit.guestKey) AND hotel_id = \(visit.hotelID)
              AND complaint_id <> \(visit.complaintID) AND registered_at <= \(visit.registeredAt)
            """,
            logger: logger
        ).collect()
        guard let row = rows.first else { return .none }
        let (inStay, inWindow) = try row.decode((Int, Int).self)
        return GuestHistorySummary(earlierInStay: inStay, earlierInWindow: inWindow)
    }

    /// Remembers a complaint for later repeat checks.
    public func record(_ visit: GuestVisit, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(
            """
            INSERT INTO guest_history (complaint_id, guest_key, hotel_id, reservation_ref, registered_at)
            VALUES (\(visit.complaintID), \(visit.guestKey), \(visit.hotelID), \(visit.reservationReference), \(visit.registeredAt))
            ON CONFLICT (complaint_id) DO NOTHING
            """,
            logger: logger)
    }

    /// Stores a verdict; returns `false` when the complaint was already classified (automatically, or
    /// corrected by staff since: an automatic verdict never replaces a staff one).
    public func save(
        _ classification: Classification, complaintID: UUID, hotelID: String, classifiedAt: Date, registeredAt: Date? = nil,
        on connection: PostgresConnection, logger: Logger
    ) async throws -> Bool {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let flags = String(decoding: try encoder.encode(classification.flags), as: UTF8.self)
        let explanation = String(decoding: try encoder.encode(classification.explanation), as: UTF8.self)
        let rows = try await connection.query(
            """
            INSERT INTO classifications
                (complaint_id, hotel_id, category, severity, priority, language, sentiment, flags, confidence, explanation,
                 classifier, version, classified_at, registered_at)
            VALUES (\(complaintID), \(hotelID), \(classification.category.rawValue), \(classification.severity.rawValue),
                    \(Int16(classification.priority)), \(classification.language), \(classification.sentiment), \(flags)::jsonb,
                    \(classification.confidence), \(explanation)::jsonb, \(classification.explanation.classifier),
                    \(classification.explanation.version), \(classifiedAt), \(registeredAt))
            ON CONFLICT (complaint_id) DO NOTHING
            RETURNING complaint_id
            """,
            logger: logger
        ).collect()
        return !rows.isEmpty
    }
}
