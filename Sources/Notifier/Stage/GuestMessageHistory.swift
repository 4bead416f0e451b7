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

    /// Why a guest message about something that happened at `since` is not to be planned at `now`: older
    /// than `guestMessages.maximumAge` (a backfilled or long-delayed complaint); `nil` when it is young
    /// enough or there is no limit. Checked before ``admit(rule:limits:now:)``: a stale message takes no place.
    static func staleness(since: Date, limits: NotificationRules.GuestMessageLimits, now: Date) -> Refusal? {
        let maximum = Double(limits.maximumAge.components.seconds)
        let age = now.timeIntervalSince(since)
        guard maximum > 0, age > maximum else { return nil }
        return Refusal(
            code: "guest_message_stale",
            message: "what it tells the guest happened \(Self.describe(age)) ago, more than guestMessages.maximumAge (\(Self.describe(maximum)))")
    }

    /// Why no guest message of a complaint that came in a backfill is planned, whatever its event's time:
    /// intake registered it more than `guestMessages.maximumAge` after the guest reported it
    /// (``ComplaintFacts/isBackfill(maximumAge:)``), so a bulk resolution of the backfill today does not tell
    /// thousands of guests about complaints from months ago. Its own code, `guest_message_backfill`, not
    /// `guest_message_stale`: a source whose clock is days behind makes every complaint look backfilled and
    /// silences every guest, which the metric then tells apart from messages that are really old; `nil` when
    /// the complaint is not one (or its registration was not read yet, or there is no limit).
    static func backfill(_ facts: ComplaintFacts, limits: NotificationRules.GuestMessageLimits) -> Refusal? {
        guard facts.isBackfill(maximumAge: limits.maximumAge), let reportedAt = facts.reportedAt, let registeredAt = facts.registeredAt else {
            return nil
        }
        return Refusal(
            code: "guest_message_backfill",
            message: "the complaint was registered \(Self.describe(registeredAt.timeIntervalSince(reportedAt))) after the guest reported it (a backfill), "
                + "more than guestMessages.maximumAge (\(Self.describe(Double(limits.maximumAge.components.seconds)))): its guest is not messaged")
    }

    /// `90d`, `5h`, `12m` or `40s`: an age for a log line or a `deliveries` row.
    static func describe(_ seconds: Double) -> String {
        let whole = Int(seconds.rounded(.down))
        if whole >= 86_400 * 2 { return "\(whole / 86_400)d" }
        if whole >= 3_600 { return "\(whole / 3_600)h" }
        if whole >= 60 { return "\(whole / 60)m" }
        return "\(whole)s"
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
