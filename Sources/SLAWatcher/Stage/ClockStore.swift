import ComplaintEvents
import Foundation
import HotelTime
import Logging
import PostgresNIO

/// A complaint's clocks as stored in the `sla` schema.
public struct ClockRecord: Sendable, Hashable {
    public var complaintID: UUID
    public var hotelID: String
    /// The department whose calendar the clocks run on: the newest assignment's.
    public var department: String?
    /// When the assignment `department` comes from was made (`nil` on clocks stored before migration 0004).
    public var departmentAt: Date?
    public var category: ComplaintCategory?
    public var severity: Severity?
    /// When the verdict behind `category` and `severity` was made; `nil` while they come from an assignment.
    public var classifiedAt: Date?
    public var registeredAt: Date?
    public var acknowledgedAt: Date?
    public var resolveStartedAt: Date?
    public var resolveGeneration: Int
    public var resolvedAt: Date?
    public var closedAt: Date?
    public var pauses: [ClockPause]
    /// Wall time spent resolved or closed before the reopenings (migration 0005, which starts every clock
    /// at 0: the time resolved before it was not kept and is never counted).
    public var timeResolved: TimeInterval

    public init(complaintID: UUID, hotelID: String) {
        self.complaintID = complaintID
        self.hotelID = hotelID
        self.resolveGeneration = 1
        self.pauses = []
        self.timeResolved = 0
    }

    /// Whether the assignment arrived: the clocks have a start, a category and a severity.
    public var isStarted: Bool { registeredAt != nil && category != nil && severity != nil && department != nil }
    /// Waiting for the guest now.
    public var isPaused: Bool { pauses.last.map { $0.end == nil } ?? false }

    /// The clocks under `policy` (only for a started record).
    public func clocks(policy: SLAPolicy) -> ComplaintClocks? {
        guard let registeredAt else { return nil }
        return ComplaintClocks(
            registeredAt: registeredAt, policy: policy, acknowledgedAt: acknowledgedAt, resolveStartedAt: resolveStartedAt ?? registeredAt,
            resolvedAt: resolvedAt ?? closedAt, pauses: pauses, timeResolved: timeResolved, resolveGeneration: resolveGeneration)
    }

    /// Starts a new resolve clock at `at` (a resolved or closed complaint reopened): the time since the
    /// resolution (or the closing, if it was closed unresolved) is added to ``timeResolved``, which the
    /// ceiling does not count.
    public mutating func reopen(at: Date) {
        if let ended = resolvedAt ?? closedAt { timeResolved += max(0, at.timeIntervalSince(ended)) }
        resolvedAt = nil
        closedAt = nil
        resolveStartedAt = at
        resolveGeneration += 1
    }
}

/// A timer's row name: `resolve_breach#2` for the second resolve clock's breach.
public struct TimerKey: Sendable, Hashable, CustomStringConvertible {
    public var timer: ClockTimer
    /// The resolve clock (or resolution) it belongs to; 1 for timers of which there is only ever one.
    public var generation: Int

    public init(_ timer: ClockTimer, generation: Int = 1) {
        self.timer = timer
        switch timer {
        case .resolveWarning, .resolveBreach, .followUp: self.generation = generation
        default: self.generation = 1
        }
    }

    public var description: String {
        switch timer {
        case .resolveWarning, .resolveBreach, .followUp: "\(timer)#\(generation)"
        default: timer.description
        }
    }

    public init?(_ text: String) {
        let parts = text.split(separator: "#", omittingEmptySubsequences: false)
        let generation = parts.count == 2 ? Int(parts[1]) ?? 1 : 1
        let name = String(parts[0])
        let timer: ClockTimer
        switch name {
        case "acknowledge_warning": timer = .acknowledgeWarning
        case "acknowledge_breach": timer = .acknowledgeBreach
        case "resolve_warning": timer = .resolveWarning
        case "resolve_breach": timer = .resolveBreach
        case "followup": timer = .followUp
        case "ceiling": timer = .ceiling
        default:
            guard name.hasPrefix("escalation_"), let level = Int(name.dropFirst("escalation_".count)) else { return nil }
            timer = .escalation(level: level)
        }
        self.init(timer, generation: generation)
    }
}

/// Reads and writes clocks and timers, and claims due timers for the sweep.
public struct ClockStore: Sendable {
    /// `NOTIFY`d whenever timers change, so the sweep can wake for an earlier one.
    public static let notificationChannel = "sla_timers"

    public init() {}

    /// The clock, locked for the transaction.
    public func clock(_ id: UUID, on connection: PostgresConnection, logger: Logger) async throws -> ClockRecord? {
        let rows = try await connection.query("""
            SELECT hotel_id, department, category, severity, classified_at, registered_at, acknowledged_at, resolve_started_at, resolve_generation,
                resolved_at, closed_at, pauses::text, department_at, resolved_seconds
            FROM clocks WHERE complaint_id = \(id) FOR UPDATE
            """, logger: logger)
        return try await Self.record(id, from: rows)
    }

    /// The clock, locked for the transaction, created empty first when there is none (a clock being
    /// inserted by another transaction is waited for). One round trip: the upsert's no-op update takes
    /// the row's lock and returns what is stored.
    public func lockedClock(_ id: UUID, hotelID: String, on connection: PostgresConnection, logger: Logger) async throws -> ClockRecord {
        let rows = try await connection.query("""
            INSERT INTO clocks AS c (complaint_id, hotel_id) VALUES (\(id), \(hotelID))
            ON CONFLICT (complaint_id) DO UPDATE SET hotel_id = c.hotel_id
            RETURNING c.hotel_id, c.department, c.category, c.severity, c.classified_at, c.registered_at, c.acknowledged_at,
                c.resolve_started_at, c.resolve_generation, c.resolved_at, c.closed_at, c.pauses::text, c.department_at, c.resolved_seconds
            """, logger: logger)
        return try await Self.record(id, from: rows) ?? ClockRecord(complaintID: id, hotelID: hotelID)
    }

    /// The clock in the first row of `rows` (the columns of ``clock(_:on:logger:)``).
    private static func record(_ id: UUID, from rows: PostgresRowSequence) async throws -> ClockRecord? {
        for try await (
            hotel, department, category, severity, classified, registered, acknowledged, resolveStarted, generation, resolved, closed, pauses,
            departmentAt, resolvedSeconds
        ) in rows.decode((String, String?, String?, String?, Date?, Date?, Date?, Date?, Int, Date?, Date?, String, Date?, Double).self) {
            var record = ClockRecord(complaintID: id, hotelID: hotel)
            record.department = department
            record.departmentAt = departmentAt
            record.category = category.flatMap(ComplaintCategory.init(rawValue:))
            record.severity = severity.flatMap(Severity.init(rawValue:))
            record.classifiedAt = classified
            record.registeredAt = registered
            record.acknowledgedAt = acknowledged
            record.resolveStartedAt = resolveStarted
            record.resolveGeneration = generation
            record.resolvedAt = resolved
            record.closedAt = closed
            record.pauses = decodePauses(pauses)
            record.timeResolved = resolvedSeconds
            return record
        }
        return nil
    }

    /// Creates or updates the clock.
    public func save(_ record: ClockRecord, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            INSERT INTO clocks (complaint_id, hotel_id, department, category, severity, classified_at, registered_at, acknowledged_at,
                resolve_started_at, resolve_generation, resolved_at, closed_at, pauses, department_at, resolved_seconds)
            VALUES (\(record.complaintID), \(record.hotelID), \(record.department), \(record.category?.rawValue), \(record.severity?.rawValue),
                \(record.classifiedAt), \(record.registeredAt), \(record.acknowledgedAt), \(record.resolveStartedAt), \(record.resolveGeneration),
                \(record.resolvedAt), \(record.closedAt), \(Self.encodePauses(record.pauses))::jsonb, \(record.departmentAt), \(record.timeResolved))
            ON CONFLICT (complaint_id) DO UPDATE SET department = excluded.department, department_at = excluded.department_at,
                category = excluded.category,
                severity = excluded.severity, classified_at = excluded.classified_at, registered_at = excluded.registered_at, acknowledged_at = excluded.acknowledged_at,
                resolve_started_at = excluded.resolve_started_at, resolve_generation = excluded.resolve_generation,
                resolved_at = excluded.resolved_at, closed_at = excluded.closed_at, pauses = excluded.pauses,
                resolved_seconds = excluded.resolved_seconds, updated_at = now()
            """, logger: logger)
    }

    /// Makes the unfired timers of a clock `desired`. A timer that came due before `now` (the time of the
    /// change: the staff action's or the verdict's) stays as it is, even when no longer desired or desired
    /// at another time: what came due before the change still fires (late), so a lagging watcher never
    /// skips a breach. One due at `now` itself (the same millisecond as stored, ``Foundation/Date/isBefore(_:)``)
    /// follows the change: an action at its deadline is in time, `met`, and its breach does not fire. Fired
    /// timers are never armed again. The caller holds the clock's lock
    /// (``lockedClock(_:hotelID:on:logger:)``): timer rows are only ever locked after their clock's.
    public func arm(_ desired: [TimerKey: Date], for id: UUID, now: Date, on connection: PostgresConnection, logger: Logger) async throws {
        // One statement: the timers no longer desired go, the desired ones are armed, the sweepers are
        // woken (the two changes touch different rows, so reading one snapshot is what is wanted).
        let entries = desired.sorted { $0.key.description < $1.key.description }
        let keys = entries.map(\.key.description)
        let dues = entries.map(\.value)
        // Due at or after this (in microseconds since 2000, as stored): not before the change, to the millisecond.
        let changing = now.firstStoredMicrosecondOfItsMillisecond
        _ = try await connection.query("""
            WITH removed AS (
                DELETE FROM timers WHERE complaint_id = \(id) AND fired_at IS NULL AND due_at >= \(unescaped: Self.storedTime)\(changing)) AND NOT (timer = ANY(\(keys)))
            ), armed AS (
                INSERT INTO timers (complaint_id, timer, due_at)
                SELECT \(id), wanted.timer, wanted.due_at FROM unnest(\(keys)::text[], \(dues)::timestamptz[]) AS wanted(timer, due_at)
                ON CONFLICT (complaint_id, timer) DO UPDATE SET due_at = excluded.due_at
                    WHERE timers.fired_at IS NULL AND timers.due_at >= \(unescaped: Self.storedTime)\(changing))
            )
            SELECT pg_notify(\(Self.notificationChannel), '')
            """, logger: logger).collect()
    }

    /// A timestamp from microseconds since 2000-01-01 (PostgreSQL's own epoch and unit), exactly: a bound
    /// passed as a `Date` would be truncated to the microsecond by the driver, one off at times.
    static let storedTime = "(timestamptz '2000-01-01 00:00:00+00' + interval '1 microsecond' * "

    /// Removes every timer of a clock, fired or not. The assignment does this as it starts the clock: rows
    /// armed on the unstarted clock by a replica older than the rule that only started clocks have timers
    /// are not this clock's, and one such a replica already fired (an `acknowledge_breach` on 24x7 during a
    /// rolling deploy) would otherwise keep `arm` from arming the started clock's own, whose breach and
    /// escalation then never fired. The caller holds the clock's lock.
    public func disarm(_ id: UUID, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("DELETE FROM timers WHERE complaint_id = \(id)", logger: logger)
    }

    /// The SQL condition on `clocks` alias `c` that its clock started (``ClockRecord/isStarted``): only
    /// those fire timers.
    static let startedClock =
        "c.registered_at IS NOT NULL AND c.category IS NOT NULL AND c.severity IS NOT NULL AND c.department IS NOT NULL"

    /// Moves an unfired timer to `due`, or removes it (`nil`). The caller holds the clock's lock.
    public func move(_ key: TimerKey, of id: UUID, to due: Date?, on connection: PostgresConnection, logger: Logger) async throws {
        if let due {
            try await connection.query(
                "UPDATE timers SET due_at = \(due) WHERE complaint_id = \(id) AND timer = \(key.description) AND fired_at IS NULL", logger: logger)
        } else {
            try await connection.query(
                "DELETE FROM timers WHERE complaint_id = \(id) AND timer = \(key.description) AND fired_at IS NULL", logger: logger)
        }
    }

    /// Marks a timer fired (inserting it when it was never armed), so it never fires again.
    public func markFired(_ key: TimerKey, of id: UUID, due: Date, at firedAt: Date, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            INSERT INTO timers (complaint_id, timer, due_at, fired_at) VALUES (\(id), \(key.description), \(due), \(firedAt))
            ON CONFLICT (complaint_id, timer) DO UPDATE SET fired_at = COALESCE(timers.fired_at, excluded.fired_at)
            """, logger: logger)
    }

    /// Whether a timer already fired.
    public func hasFired(_ key: TimerKey, of id: UUID, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        let rows = try await connection.query(
            "SELECT 1 FROM timers WHERE complaint_id = \(id) AND timer = \(key.description) AND fired_at IS NOT NULL", logger: logger)
        return try await rows.collect().count > 0
    }

    /// A timer due now, claimed for this transaction.
    public struct DueTimer: Sendable, Hashable {
        public var complaintID: UUID
        public var key: TimerKey
        public var dueAt: Date
    }

    /// The order in which timers due at the same instant fire: warnings, breaches, escalations by level,
    /// the ceiling, follow-ups (then the acknowledge target before the resolve target, by name), so that
    /// `breached` always precedes the `escalated` it triggers on the topic.
    static let firingOrder = """
        CASE WHEN timer LIKE '%warning%' THEN 0
            WHEN timer LIKE '%breach%' THEN 1
            WHEN timer ~ '^escalation_[0-9]{1,3}$' THEN 1 + substring(timer FROM 12)::int
            WHEN timer = 'ceiling' THEN 2000
            ELSE 2001 END, timer
        """

    /// Claims up to `limit` due, unfired timers of started clocks, oldest first (ties in ``firingOrder``),
    /// skipping those of clocks another transaction holds: another replica firing them, or a handler
    /// changing the clock. A timer row on a clock the assignment has not started (armed by an older
    /// replica) never fires: the start removes it (``disarm(_:on:logger:)``).
    ///
    /// Locks are taken in the handlers' order, the clock before its timers, so a handler and the sweep
    /// never wait for each other in a circle. First the clocks of the oldest due timers are locked
    /// (`SKIP LOCKED`); then, in a new statement (whose snapshot sees what committed meanwhile), their due
    /// timers: nobody else holds those, since every writer of timer rows holds the clock first.
    public func claimDue(limit: Int, now: Date, on connection: PostgresConnection, logger: Logger) async throws -> [DueTimer] {
        var clocks: Set<UUID> = []
        let held = try await connection.query("""
            SELECT c.complaint_id FROM timers t JOIN clocks c ON c.complaint_id = t.complaint_id
            WHERE t.fired_at IS NULL AND t.due_at <= \(now) AND \(unescaped: Self.startedClock)
            ORDER BY t.due_at LIMIT \(limit)
            FOR UPDATE OF c SKIP LOCKED
            """, logger: logger)
        for try await id in held.decode(UUID.self) { clocks.insert(id) }
        guard !clocks.isEmpty else { return [] }
        let rows = try await connection.query("""
            SELECT complaint_id, timer, due_at FROM timers
            WHERE complaint_id = ANY(\(Array(clocks))) AND fired_at IS NULL AND due_at <= \(now)
            ORDER BY due_at, \(unescaped: Self.firingOrder) LIMIT \(limit)
            FOR UPDATE
            """, logger: logger)
        var due: [DueTimer] = []
        for try await (id, name, dueAt) in rows.decode((UUID, String, Date).self) {
            if let key = TimerKey(name) { due.append(DueTimer(complaintID: id, key: key, dueAt: dueAt)) }
        }
        return due
    }

    /// Deletes up to `limit` clocks that are over, with their timers (by cascade), and returns their ids.
    ///
    /// A clock goes when nothing happened to it since `cutoff` (`updated_at`) and it either ended before
    /// `cutoff` (closed, or resolved with its follow-up fired) with no timer left to fire, or never started
    /// (no assignment came: a timer row an older replica armed on it never fires). Its fired timers go with it and never alone: they are what keeps a
    /// timer of a running clock from firing twice. One short statement: the clocks are locked `SKIP
    /// LOCKED`, as the sweep claims them, so a clock a handler, the sweep or another replica holds is
    /// passed by (and one a handler changed meanwhile is no longer old); timer rows are locked after
    /// their clock's, as everywhere.
    public func purge(endedBefore cutoff: Date, limit: Int, on connection: PostgresConnection, logger: Logger) async throws -> [UUID] {
        let rows = try await connection.query("""
            DELETE FROM clocks WHERE complaint_id IN (
                SELECT c.complaint_id FROM clocks c
                WHERE c.updated_at < \(cutoff)
                    AND ((greatest(c.resolved_at, c.closed_at) < \(cutoff)
                            AND NOT EXISTS (SELECT 1 FROM timers t WHERE t.complaint_id = c.complaint_id AND t.fired_at IS NULL))
                        OR NOT (\(unescaped: Self.startedClock)))
                LIMIT \(limit)
                FOR UPDATE OF c SKIP LOCKED)
            RETURNING complaint_id
            """, logger: logger)
        var purged: [UUID] = []
        for try await id in rows.decode(UUID.self) { purged.append(id) }
        return purged
    }

    /// When the next unfired timer of a started clock is due.
    public func nextDue(on connection: PostgresConnection, logger: Logger) async throws -> Date? {
        let rows = try await connection.query("""
            SELECT t.due_at FROM timers t JOIN clocks c ON c.complaint_id = t.complaint_id
            WHERE t.fired_at IS NULL AND \(unescaped: Self.startedClock)
            ORDER BY t.due_at LIMIT 1
            """, logger: logger)
        for try await due in rows.decode(Date?.self) { return due }
        return nil
    }

    static func encodePauses(_ pauses: [ClockPause]) -> String {
        let items = pauses.map { pause -> [String: Any] in
            ["start": pause.start.timeIntervalSince1970, "end": pause.end.map { $0.timeIntervalSince1970 as Any } ?? NSNull()]
        }
        let data = (try? JSONSerialization.data(withJSONObject: items)) ?? Data("[]".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    static func decodePauses(_ text: String) -> [ClockPause] {
        guard let items = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]] else { return [] }
        return items.compactMap { item in
            guard let start = item["start"] as? Double else { return nil }
            return ClockPause(start: Date(timeIntervalSince1970: start), end: (item["end"] as? Double).map { Date(timeIntervalSince1970: $0) })
        }
    }
}
