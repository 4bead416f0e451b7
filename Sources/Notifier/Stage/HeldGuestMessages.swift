import ComplaintEvents
import Foundation
import Logging
import Metrics
import PostgresNIO

/// Guest messages waiting for the hotel's quiet hours to end, and the later message that makes one
/// pointless: a complaint registered and resolved in one night held both "we received your complaint"
/// and "it is resolved", and the guest got them together in the morning. When a later guest message of
/// the complaint is planned, the earlier ones it supersedes that still wait (not due yet, not being
/// sent) are given up with `superseded_by_<trigger>`, in the transaction that plans it and holds the
/// complaint's row, so the replicas and a restart see the same.
enum HeldGuestMessages {
    /// The triggers of earlier guest messages that a guest message for `trigger` supersedes: a
    /// resolution's message says the complaint was registered and dealt with (and replaces an earlier
    /// resolution's), the survey says it was resolved. Other triggers supersede nothing and are not
    /// superseded (a rule of the hotel's own to the guest says something else).
    static func supersededTriggers(by trigger: String) -> [String] {
        let received = NotificationTrigger.received.name, resolved = NotificationTrigger.updated(.resolved).name
        let followUp = NotificationTrigger.sla(.followUpDue).name
        switch trigger {
        case resolved: return [received, resolved]
        case followUp: return [received, resolved, followUp]
        default: return []
        }
    }

    /// The code of a message superseded by one for `trigger`: `superseded_by_resolved`,
    /// `superseded_by_followup_due`.
    static func code(supersededBy trigger: String) -> String {
        "superseded_by_" + (trigger.split(separator: ".").last.map(String.init) ?? trigger)
    }

    /// Gives up the complaint's earlier guest messages that `later` (just recorded) supersedes and that
    /// still wait: the work-queue row pending, not due yet and not leased (a message being sent now, or
    /// sent already, stays as it is), its `deliveries` row `pending` (planned into the quiet hours) or
    /// `deferred` for them. The row becomes `given_up` with the code in `last_error`; no receipt is
    /// published (no attempt was made, and receipts count attempts from 1). Runs on the handler's
    /// connection, in its transaction, while the complaint's facts row is locked.
    /// - Returns: The notification ids given up.
    @discardableResult
    static func supersede(by later: NotificationIntent, on connection: PostgresConnection, logger: Logger) async throws -> [UUID] {
        let triggers = supersededTriggers(by: later.trigger)
        guard !triggers.isEmpty else { return [] }
        // The earlier intents' keys, from their rows (cause and rule), for each person channel a guest
        // intent may name first: the work queue finds them by its unique key.
        let rows = try await connection.query("""
            SELECT cause_event_id, rule FROM deliveries
            WHERE complaint_id = \(later.complaintID) AND recipient_kind = 'guest' AND cause_event_id <> \(later.causeEventID)
              AND (status = 'pending' OR (status = 'deferred' AND last_error LIKE '[quiet_hours]%'))
            """, logger: logger)
        var keys: [String] = []
        for try await (cause, rule) in rows.decode((UUID, String).self) {
            keys += [DeliveryChannel.email, .sms].map { NotificationIntent.idempotencyKey(cause: cause, rule: rule, recipient: "guest", channel: $0) }
        }
        guard !keys.isEmpty else { return [] }
        let code = code(supersededBy: later.trigger)
        let reason = "[\(code)] a later guest message for this complaint (rule \(later.rule)) replaces it; both waited for the hotel's quiet hours to end"
        let given = try await connection.query("""
            WITH gone AS (
                UPDATE work_queue SET status = 'failed', last_error = \(reason), completed_at = now()
                WHERE idempotency_key = ANY(\(keys)) AND kind = 'guest' AND status = 'pending' AND leased_until IS NULL
                  AND due_at > now() AND payload->>'trigger' = ANY(\(triggers))
                RETURNING (payload->>'notificationID')::uuid AS notification_id
            )
            UPDATE deliveries SET status = 'given_up', last_error = \(reason), settled_at = now()
            FROM gone WHERE deliveries.notification_id = gone.notification_id
            RETURNING deliveries.notification_id, deliveries.rule
            """, logger: logger)
        var ids: [UUID] = []
        for try await (id, rule) in given.decode((UUID, String).self) {
            ids.append(id)
            logger.info("held guest notification superseded", metadata: [
                "notification.id": "\(id)", "notification.rule": "\(rule)", "error.code": "\(code)",
                "notification.superseded_by": "\(later.notificationID)",
            ])
            Counter(label: "notifier_guest_messages_superseded_total", dimensions: [("reason", code)]).increment()
        }
        return ids
    }
}
