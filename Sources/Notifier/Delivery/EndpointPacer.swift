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
/// `endpoint_pacing` and `endpoint_places` tables. The rule is kept once, in SQL (`endpoint_pace`,
/// migrations 0005 and 0007; the purge and the hold in 0007 and 0008), on the database's clock: tests
/// exercise those functions, moving the stored times back to make time pass.
///
/// A sliding log per endpoint: the times of the calls made in the last window, and of the places
/// booked after them. A call that finds its window full books the next free place (now, or after the
/// last place booked; when the window is full, a window and a twentieth after the call `count` places
/// back: the robot counts arrivals, and latency varies) and is told to come back then (the delivery
/// worker defers it, using no attempt); when it comes back its place is waiting for it, so waiting
/// messages go in their order and are not overtaken by newer ones. A message back after its place calls
/// at once, and later places count from that call. A booked place whose message never comes back (it
/// was given up) lapses after a window. A robot that refused a call for its rate limit anyway is held
/// (``holdRobot(endpoint:until:logger:)``): nothing goes to it until then. Each delivery's hold and
/// place are read and taken in one statement that locks the endpoint's row, before the call and never
/// across it.
///
/// The runtime's pool exists only once the stage runs, so the notifier makes its pacer first
/// (``init(lockTimeout:)``) and shares it after its migrations, before any worker starts
/// (``share(through:schema:)``). A pacer asked before it is shared throws ``Unavailable`` (the message is
/// deferred with `endpoint_pacing_busy`, no call made, no attempt used, a warning naming the cause) rather
/// than trapping: a crash would take the process's other deliveries down mid-call, and their robots would
/// get those messages again once the leases ran out.
public final class EndpointPacer: Sendable {
    /// Where the log is kept: the notifier's schema.
    private struct Shared: Sendable {
        var client: PostgresClient
        var schema: SchemaName
    }

    private let shared = Mutex<Shared?>(nil)
    /// How long the pacing statement waits for the endpoint's row or a table (``pace(endpoint:key:limit:logger:)``;
    /// recording a hold and the purge wait as long): a replica that froze
    /// holding the row would otherwise block every other replica's call to that endpoint, each holding a
    /// worker and a connection, until the items' leases ran out and they were claimed again (a robot
    /// message sent twice).
    let lockTimeout: Duration
    /// The longest a delivery's pacing statement may hold its connection, the lock wait included, before
    /// the connection is closed and the message deferred (``Unavailable``): the lock timeout bounds waits
    /// for locks only, and a database that paused (or a host that vanished) with the statement in flight
    /// held the delivery past its lease, until the call went out after another worker had made it too.
    /// By default the lock timeout and ten seconds.
    let statementBound: Duration

    /// A pacer to share once the notifier's tables exist (``share(through:schema:)``); until then it
    /// answers nothing (``Unavailable``).
    public init(lockTimeout: Duration = .seconds(5), statementBound: Duration? = nil) {
        self.lockTimeout = lockTimeout
        self.statementBound = statementBound ?? lockTimeout + .seconds(10)
    }

    /// A pacer shared with every replica through `schema`'s tables (migrations 0003 to 0008).
    public convenience init(client: PostgresClient, schema: SchemaName, lockTimeout: Duration = .seconds(5), statementBound: Duration? = nil) {
        self.init(lockTimeout: lockTimeout, statementBound: statementBound)
        share(through: client, schema: schema)
    }

    /// From now on keeps the log in `schema`'s tables, shared with every replica (the runtime's pool
    /// exists only once the stage runs: it calls this after its migrations, before any worker starts).
    public func share(through client: PostgresClient, schema: SchemaName) {
        shared.withLock { $0 = Shared(client: client, schema: schema) }
    }

    /// The shared log could not be read or written in time (a replica holding the endpoint's row, a
    /// failing database): the delivery worker defers the message briefly (`endpoint_pacing_busy`),
    /// using no attempt, and calls nobody.
    struct Unavailable: Error, CustomStringConvertible {
        var underlying: any Error
        var description: String { "the shared endpoint pacing did not answer: \(String(reflecting: underlying))" }
    }

    /// Asked before ``share(through:schema:)``: a wiring mistake (the notifier shares its pacer after its
    /// migrations, before any worker starts), told as the reason the pacing did not answer.
    struct NotShared: Error, CustomStringConvertible {
        var description: String { "the endpoint pacer was asked before it was shared through the notifier's schema (share(through:schema:))" }
    }

    /// The schema's tables, or ``Unavailable`` before the pacer is shared.
    private func database() throws -> Shared {
        guard let shared = shared.withLock({ $0 }) else { throw Unavailable(underlying: NotShared()) }
        return shared
    }

    /// The notifier's pool and schema once shared, for the guest worker's other look-up before a call (a
    /// held message's superseder, ``HeldGuestMessages/decide(_:client:schema:bound:logger:)``).
    /// - Throws: ``Unavailable`` before ``share(through:schema:)``.
    func notifierSchema() throws -> (client: PostgresClient, schema: SchemaName) {
        let shared = try database()
        return (shared.client, shared.schema)
    }

    // MARK: What the delivery worker asks

    /// What the pacing says about one call to an endpoint.
    enum Pacing: Equatable, Sendable {
        /// Call now: a place was taken (or the endpoint has no limit).
        case call
        /// The robot refused another message for its rate limit: nothing goes to it until then.
        case held(until: Date)
        /// The limit's window is full: come back at this place, booked for the message.
        case wait(until: Date)
    }

    /// Whether the call of `key` to `endpoint` may go now, taking its place under `limit` if it has one:
    /// one statement (`endpoint_pace`, migration 0005), one round trip, for every delivery to an endpoint.
    /// It sets its own ``lockTimeout`` before it reads or locks anything, and its connection is closed
    /// after ``statementBound``.
    /// - Throws: ``Unavailable``.
    func pace(endpoint: String, key: String, limit: RateLimit?, logger: Logger) async throws -> Pacing {
        let shared = try database()
        let lock = Int(max(1, lockTimeout.milliseconds))
        let count = limit?.count
        let window = limit.map { Self.seconds($0.window) }
        let channel = WorkQueue(schema: shared.schema).notificationChannel
        do {
            let row = try await shared.client.withConnection(closingAfter: statementBound, logger: logger) { connection in
                try await connection.query("""
                    SELECT hold, next_place FROM \(unescaped: shared.schema.rawValue).endpoint_pace(
                        \(endpoint), \(key), \(count)::integer, \(window)::double precision, \(lock)::integer, \(Self.purgeBatch)::integer, \(channel))
                    """, logger: logger).collect()[0]
            }
            let (hold, place) = try row.decode((Date?, Date?).self)
            if let hold { return .held(until: hold) }
            if let place { return .wait(until: place) }
            return .call
        } catch {
            throw Unavailable(underlying: error)
        }
    }

    /// Leaves `endpoint` alone until `until` (a time on this process's clock, as a ``WorkDeferral`` made
    /// with a wait holds it; kept as that much time from now on the database's). Only after a refusal:
    /// one statement (`endpoint_hold`, migration 0007) with the pacing's lock timeout, no transaction
    /// around it, so a replica that froze recording a hold does not keep the endpoint's row locked.
    /// - Throws: ``Unavailable``.
    func holdRobot(endpoint: String, until: Date, logger: Logger) async throws {
        let shared = try database()
        let seconds = until.timeIntervalSinceNow
        let lock = Int(max(1, lockTimeout.milliseconds))
        do {
            _ = try await shared.client.query("""
                SELECT \(unescaped: shared.schema.rawValue).endpoint_hold(\(endpoint), \(seconds)::double precision, \(lock)::integer)
                """, logger: logger).collect()
        } catch {
            throw Unavailable(underlying: error)
        }
    }

    /// Removes up to ``purgeBatch`` rows of endpoints no longer called, and as many of their pacing rows
    /// (`endpoint_purge`, migrations 0007 and 0008, oldest first through the index on the place): from the
    /// background (``RateLimitChanges``), not in a delivery's pacing statement, which ran it under the
    /// endpoint's row lock. How many rows went.
    /// - Throws: ``Unavailable``.
    func purge(logger: Logger) async throws -> Int {
        let shared = try database()
        let lock = Int(max(1, lockTimeout.milliseconds))
        do {
            return try await shared.client.query("""
                SELECT \(unescaped: shared.schema.rawValue).endpoint_purge(\(Self.purgeBatch)::integer, \(lock)::integer)
                """, logger: logger).collect()[0].decode(Int.self)
        } catch {
            throw Unavailable(underlying: error)
        }
    }

    /// How many rows of old places (and of pacing rows) one ``purge(logger:)`` removes at most.
    static let purgeBatch = 100

    /// Makes the messages deferred to places of `endpoint` booked under a limit other than `limit` (or
    /// any, when it has none now) due at once, to take new places (`endpoint_repace`, migration 0006):
    /// called when the rules file changes the limit (``RateLimitChanges``). How many were made due.
    /// - Throws: ``Unavailable``.
    func repace(endpoint: String, limit: RateLimit?, logger: Logger) async throws -> Int {
        let shared = try database()
        let lock = Int(max(1, lockTimeout.milliseconds))
        let channel = WorkQueue(schema: shared.schema).notificationChannel
        do {
            return try await shared.client.query("""
                SELECT \(unescaped: shared.schema.rawValue).endpoint_repace(
                    \(endpoint), \(limit?.count)::integer, \(limit.map { Self.seconds($0.window) })::double precision, \(lock)::integer, \(channel))
                """, logger: logger).collect()[0].decode(Int.self)
        } catch {
            throw Unavailable(underlying: error)
        }
    }

    /// Takes a place for the call of `key` to `endpoint` now: `nil` to call now, else when to come back
    /// (its place, or the end of the robot's hold).
    /// - Throws: ``Unavailable``.
    func admit(endpoint: String, key: String, limit: RateLimit, logger: Logger) async throws -> Date? {
        switch try await pace(endpoint: endpoint, key: key, limit: limit, logger: logger) {
        case .call: nil
        case .held(let until), .wait(let until): until
        }
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
