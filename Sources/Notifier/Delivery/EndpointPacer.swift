import ComplaintEvents
import ComplaintStore
import Foundation
import Logging
import PostgresNIO
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

/// Paces the calls to each endpoint to its ``RateLimit`` so that a burst of complaints reaches a robot
/// group over the following minutes instead of being refused by it, and leaves a robot alone while it
/// refuses calls for its rate limit — across every notifier replica, through the `notifier` schema's
/// `endpoint_pacing` and `endpoint_places` tables (``init(client:schema:)`` or ``share(through:schema:)``),
/// or in this process alone (``init()``: tests of the algorithm, a performer without a database).
///
/// A sliding log per endpoint: the times of the calls made in the last window, and of the places
/// booked after them. A call that finds its window full books the next free place and is told to
/// come back then (the delivery worker defers it, using no attempt); when it comes back its place is
/// waiting for it, so waiting messages go in their order and are not overtaken by newer ones. A booked
/// place whose message never comes back (it was given up) lapses after a window. A robot that refused
/// a call for its rate limit anyway is held (``hold(endpoint:until:)``): nothing goes to it until then.
/// Shared, each place is taken in a short transaction of its own that locks the endpoint's row, before
/// the call and never across it, on the database's clock.
public final class EndpointPacer: Sendable {
    private struct Log {
        /// Calls made and places booked, in time order.
        var places: [Date] = []
        /// The place booked for a waiting message, by its idempotency key.
        var booked: [String: Date] = [:]
        /// Until when the endpoint itself asked to be left alone.
        var heldUntil: Date?
    }

    /// Where the log is kept when it is shared: the notifier's schema.
    private struct Shared: Sendable {
        var client: PostgresClient
        var schema: SchemaName
    }

    private let logs = Mutex<[String: Log]>([:])
    private let shared = Mutex<Shared?>(nil)

    /// A pacer for this process alone.
    public init() {}

    /// A pacer shared with every replica through `schema`'s tables (migration 0003).
    public convenience init(client: PostgresClient, schema: SchemaName) {
        self.init()
        share(through: client, schema: schema)
    }

    /// From now on keeps the log in `schema`'s tables, shared with every replica (the runtime's pool
    /// exists only once the stage runs: it calls this after its migrations, before any worker starts).
    public func share(through client: PostgresClient, schema: SchemaName) {
        shared.withLock { $0 = Shared(client: client, schema: schema) }
    }

    // MARK: What the delivery worker asks

    /// Until when `endpoint` is held now, if it is (``holdRobot(endpoint:until:)``).
    func robotHold(endpoint: String, logger: Logger) async throws -> Date? {
        guard let shared = shared.withLock({ $0 }) else { return heldUntil(endpoint: endpoint, now: Date()) }
        let rows = try await shared.client.withConnection { connection in
            try await connection.query("""
                SELECT held_until FROM \(unescaped: shared.schema.rawValue).endpoint_pacing
                WHERE endpoint = \(endpoint) AND held_until > clock_timestamp()
                """, logger: logger).collect()
        }
        return try rows.first?.decode(Date.self)
    }

    /// Leaves `endpoint` alone until `until` (a time on this process's clock; kept as that much time
    /// from now on the database's).
    func holdRobot(endpoint: String, until: Date, logger: Logger) async throws {
        guard let shared = shared.withLock({ $0 }) else { return hold(endpoint: endpoint, until: until) }
        let seconds = until.timeIntervalSinceNow
        _ = try await shared.client.withConnection { connection in
            try await connection.query("""
                INSERT INTO \(unescaped: shared.schema.rawValue).endpoint_pacing AS pacing (endpoint, held_until)
                VALUES (\(endpoint), clock_timestamp() + make_interval(secs => \(seconds)))
                ON CONFLICT (endpoint) DO UPDATE SET held_until = GREATEST(pacing.held_until, excluded.held_until)
                """, logger: logger)
        }
    }

    /// Takes a place for the call of `key` to `endpoint` now: `nil` to call now, else when to come back.
    func admit(endpoint: String, key: String, limit: RateLimit, logger: Logger) async throws -> Date? {
        guard let shared = shared.withLock({ $0 }) else { return admit(endpoint: endpoint, key: key, limit: limit, now: Date()) }
        let window = Self.seconds(limit.window)
        return try await shared.client.transaction(schema: shared.schema, logger: logger) { connection in
            // The endpoint's row, locked until the commit: one place taken at a time, by any replica.
            let now = try await connection.query("""
                INSERT INTO endpoint_pacing (endpoint) VALUES (\(endpoint))
                ON CONFLICT (endpoint) DO UPDATE SET endpoint = excluded.endpoint
                RETURNING clock_timestamp()
                """, logger: logger).collect()[0].decode(Date.self)
            let horizon = now.addingTimeInterval(-window)
            try await connection.query(
                "DELETE FROM endpoint_places WHERE endpoint = \(endpoint) AND place <= \(horizon)", logger: logger)
            let booked = try await connection.query(
                "SELECT place FROM endpoint_places WHERE endpoint = \(endpoint) AND idempotency_key = \(key)", logger: logger
            ).collect().first?.decode(Date.self)
            if let booked {
                if booked > now { return booked }
                try await connection.query(
                    "UPDATE endpoint_places SET idempotency_key = NULL WHERE endpoint = \(endpoint) AND idempotency_key = \(key)", logger: logger)
                return nil
            }
            let latest = try await connection.query("""
                SELECT place FROM endpoint_places WHERE endpoint = \(endpoint) ORDER BY place DESC LIMIT \(limit.count)
                """, logger: logger).collect().map { try $0.decode(Date.self) }
            let place = Self.nextPlace(after: latest.reversed(), limit: limit, now: now)
            let waiting: String? = place > now ? key : nil
            try await connection.query(
                "INSERT INTO endpoint_places (endpoint, place, idempotency_key) VALUES (\(endpoint), \(place), \(waiting))", logger: logger)
            return place > now ? place : nil
        }
    }

    // MARK: The log of this process alone

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
        let window = Self.seconds(limit.window)
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
            let place = Self.nextPlace(after: log.places.suffix(limit.count), limit: limit, now: now)
            log.places.append(place)
            guard place > now else { return nil }
            log.booked[key] = place
            return place
        }
    }

    // MARK: The rule both keep

    /// The next free place at `now` after `latest`, the last `limit.count` places of the window (calls
    /// made and places booked, oldest first): now, or after the last place booked, and when the window is
    /// full, a window and a twentieth after the call `limit.count` places back (the robot counts arrivals,
    /// and latency varies).
    static func nextPlace<Places: Collection<Date>>(after latest: Places, limit: RateLimit, now: Date) -> Date {
        let window = seconds(limit.window)
        var place = max(now, latest.max() ?? now)
        if latest.count >= limit.count, let first = latest.min() {
            place = max(place, first.addingTimeInterval(window + window / 20))
        }
        return place
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
