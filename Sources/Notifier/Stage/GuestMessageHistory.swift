import Foundation
import Logging
import PostgresNIO

/// What one complaint's guest has been sent so far — planned, neither skipped nor given up, in `deliveries` — and the
/// bound on more (``NotificationRules/GuestMessageLimits``): read once per event, inside the handler's
/// transaction, while the complaint's facts row is locked, so two events of one complaint cannot both
/// take the last place.
struct GuestMessageHistory: Sendable, Hashable {
    /// Guest messages planned for the complaint, every rule together.
    var total = 0
    /// When each rule last planned one.
    var latestByRule: [String: Date] = [:]

    /// Why a guest message may not be planned: a receipt-style code and what it means.
    struct Refusal: Sendable, Hashable {
        var code: String
        var message: String
        var reason: String { "[\(code)] \(message)" }
    }

    static func load(_ complaintID: UUID, on connection: PostgresConnection, logger: Logger) async throws -> GuestMessageHistory {
        let rows = try await connection.query("""
            SELECT rule, count(*)::int, max(created_at) FROM deliveries
            WHERE complaint_id = \(complaintID) AND recipient_kind = 'guest' AND status NOT IN ('skipped', 'given_up')
            GROUP BY rule
            """, logger: logger)
        var history = GuestMessageHistory()
        for try await (rule, count, latest) in rows.decode((String, Int, Date).self) {
            history.total += count
            history.latestByRule[rule] = latest
        }
        return history
    }

    /// Takes a place for a message of `rule` at `now`, or says why there is none.
    mutating func admit(rule: String, limits: NotificationRules.GuestMessageLimits, now: Date) -> Refusal? {
        if total >= limits.maximumPerComplaint {
            return Refusal(
                code: "guest_message_limit",
                message: "the complaint's guest has had \(total) messages, the most guestMessages.maximumPerComplaint allows")
        }
        let interval = Double(limits.minimumInterval.components.seconds)
        if let latest = latestByRule[rule], interval > 0, now.timeIntervalSince(latest) < interval {
            return Refusal(
                code: "guest_message_too_soon",
                message: "rule \(rule) messaged this complaint's guest less than guestMessages.minimumInterval (\(limits.minimumInterval)) ago")
        }
        total += 1
        latestByRule[rule] = now
        return nil
    }
}
