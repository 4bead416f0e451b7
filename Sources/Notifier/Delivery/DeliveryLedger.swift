import ComplaintEvents
import Foundation
import Logging
import PostgresNIO

/// The notifier's `deliveries` table: one row per notification with its latest status, so operators
/// (and `GET /v1/notifications`) see what was sent, what is retrying and what was given up, and why.
enum DeliveryLedger {
    static func recordPlanned(_ intent: NotificationIntent, dueAt: Date?, on connection: PostgresConnection, logger: Logger) async throws {
        try await insert(intent, status: "pending", dueAt: dueAt, error: nil, on: connection, logger: logger)
    }

    /// A message not planned because the guest's bound is reached (``GuestMessageHistory``): `skipped`, no
    /// intent, no attempt; `reason` says which bound (`[guest_message_limit] …`).
    static func recordSkipped(_ intent: NotificationIntent, reason: String, on connection: PostgresConnection, logger: Logger) async throws {
        try await insert(intent, status: "skipped", dueAt: nil, error: reason, on: connection, logger: logger)
    }

    private static func insert(
        _ intent: NotificationIntent, status: String, dueAt: Date?, error: String?, on connection: PostgresConnection, logger: Logger
    ) async throws {
        let settled = status != "pending"
        try await connection.query("""
            INSERT INTO deliveries (notification_id, complaint_id, hotel_id, cause_event_id, rule, template, language, channel,
                recipient_kind, staff_id, endpoint, status, last_error, due_at, settled_at, trigger, cause_time)
            VALUES (\(intent.notificationID), \(intent.complaintID), \(intent.hotelID), \(intent.causeEventID), \(intent.rule),
                \(intent.template), \(intent.language), \(intent.channel.rawValue), \(intent.recipient.kind.rawValue),
                \(intent.recipient.staffID), \(intent.endpoint), \(status), \(error), COALESCE(\(dueAt), now()),
                CASE WHEN \(settled) THEN now() END, \(intent.trigger), \(intent.causeTime))
            ON CONFLICT (notification_id) DO NOTHING
            """, logger: logger)
    }

    static func recordAttempt(
        _ notificationID: UUID, status: String, channel: DeliveryChannel, attempts: Int, error: String?, receipt: String?, settled: Bool,
        on connection: PostgresConnection, logger: Logger
    ) async throws {
        try await connection.query("""
            UPDATE deliveries SET status = \(status), channel = \(channel.rawValue), attempts = \(attempts), last_error = \(error),
                receipt = COALESCE(\(receipt), receipt), settled_at = CASE WHEN \(settled) THEN now() ELSE NULL END
            WHERE notification_id = \(notificationID)
            """, logger: logger)
    }

    /// A message held back without an attempt (quiet hours, an endpoint's rate limit): `deferred` until `until`.
    static func recordDeferred(
        _ notificationID: UUID, attempts: Int, reason: String, until: Date, on connection: PostgresConnection, logger: Logger
    ) async throws {
        try await connection.query("""
            UPDATE deliveries SET status = 'deferred', attempts = \(attempts), last_error = \(reason), due_at = \(until), settled_at = NULL
            WHERE notification_id = \(notificationID)
            """, logger: logger)
    }
}
