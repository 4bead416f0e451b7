import ComplaintEvents
import Foundation
import Synchronization

/// How many calls an endpoint takes in a window (`20/min`): WeCom and DingTalk robots refuse more than
/// about 20 messages a minute each.
public struct RateLimit: Sendable, Hashable, CustomStringConvertible {
    public var count: Int
    public var window: Duration

    public init(count: Int, window: Duration) {
        precondition(count >= 1 && window > .zero, "a rate limit allows at least one call in a positive window")
        self.count = count
        self.window = window
    }

    /// What an endpoint of `channel` gets when the rules file does not say: the robot platforms'
    /// documented limits (Feishu: 100 a minute and 5 a second, so one a second; Slack: one a second);
    /// none for webhooks, Teams and SMS gateways, whose limits are the receiver's own.
    public static func defaultLimit(for channel: DeliveryChannel) -> RateLimit? {
        switch channel {
        case .wecom, .dingtalk: RateLimit(count: 20, window: .seconds(60))
        case .feishu, .slack: RateLimit(count: 1, window: .seconds(1))
        default: nil
        }
    }

    public var description: String {
        let seconds = window.components.seconds
        switch seconds {
        case 1: return "\(count)/s"
        case 60: return "\(count)/min"
        case 3600: return "\(count)/h"
        default: return "\(count)/\(seconds)s"
        }
    }
}

/// Paces the calls to each endpoint to its ``RateLimit``, in this process, so that a burst of
/// complaints reaches a robot group over the following minutes instead of being refused by it.
///
/// A sliding log per endpoint: the times of the calls made in the last window, and of the places
/// booked after them. A call that finds its window full books the next free place and is told to
/// come back then (the delivery worker defers it, using no attempt); when it comes back its place is
/// waiting for it, so waiting messages go in their order and are not overtaken by newer ones. A booked
/// place whose message never comes back (another replica took it, it was given up) lapses after a
/// window. A robot that refused a call for its rate limit anyway is held (``hold(endpoint:until:)``):
/// nothing goes to it until then. Several replicas each keep their own log: see services/notifier/README.md.
public final class EndpointPacer: Sendable {
    private struct Log {
        /// Calls made and places booked, in time order.
        var places: [Date] = []
        /// The place booked for a waiting message, by its idempotency key.
        var booked: [String: Date] = [:]
        /// Until when the endpoint itself asked to be left alone.
        var heldUntil: Date?
    }

    private let logs = Mutex<[String: Log]>([:])

    public init() {}

    /// Leaves `endpoint` alone until `until`: it refused a call for its rate limit, and every other
    /// message for it would only be refused too (DingTalk keeps a robot shut longer when it is pressed).
    func hold(endpoint: String, until: Date) {
        logs.withLock { logs in
            var log = logs[endpoint] ?? Log()
            log.heldUntil = max(log.heldUntil ?? until, until)
            logs[endpoint] = log
        }
    }

    /// Until when `endpoint` is held at `now`, if it is (``hold(endpoint:until:)``).
    func heldUntil(endpoint: String, now: Date) -> Date? {
        logs.withLock { logs in
            guard let until = logs[endpoint]?.heldUntil else { return nil }
            if until > now { return until }
            logs[endpoint]?.heldUntil = nil
            return nil
        }
    }

    /// Takes a place for the call of `key` to `endpoint` at `now`: `nil` to call now, else when to come back.
    func admit(endpoint: String, key: String, limit: RateLimit, now: Date) -> Date? {
        let window = Double(limit.window.components.seconds) + Double(limit.window.components.attoseconds) / 1e18
        // A little spacing beyond the window: the robot counts arrivals, and latency varies.
        let margin = window / 20
        return logs.withLock { logs in
            var log = logs[endpoint] ?? Log()
            defer { logs[endpoint] = log }
            let horizon = now.addingTimeInterval(-window)
            if let stale = log.places.firstIndex(where: { $0 > horizon }) { log.places.removeFirst(stale) } else { log.places.removeAll() }
            log.booked = log.booked.filter { $0.value > horizon }
            if let place = log.booked[key] {
                if place > now { return place }
                log.booked[key] = nil
                return nil
            }
            var place = max(now, log.places.last ?? now)
            if log.places.count >= limit.count {
                place = max(place, log.places[log.places.count - limit.count].addingTimeInterval(window + margin))
            }
            log.places.append(place)
            guard place > now else { return nil }
            log.booked[key] = place
            return place
        }
    }
}
