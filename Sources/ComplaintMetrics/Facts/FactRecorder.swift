import ComplaintEvents
import ComplaintStore
import Foundation
import Logging
import PostgresNIO

/// Writes what each event says into the metrics schema's rollups, on the handler's connection.
///
/// Every statement is an upsert that gives the same row whatever order a complaint's events arrive in
/// across topics (earliest times with LEAST, latest with GREATEST, a value with the time it is the latest
/// of), so replaying the topics (`redress metrics rebuild`) reproduces what the live service built.
/// Counts (reopenings, SLA outcomes, guest-facing notes) add one per event; the inbox makes each event
/// count once. The open deadlines are the exception to "whatever order": they are those of the last deadline
/// event applied (see ``sla(_:on:logger:)``), which `complaints.sla.v1`'s keying by complaint makes the
/// watcher's order, live and in a replay alike. Every row a fact changes gets `fact_at = now()`, for the rebuild's comparison (migration 0002).
public struct FactRecorder: Sendable {
    /// The `NOTIFY` channel of live updates (one per schema, so tests stay apart).
    public var liveChannel: String
    /// The repeat window (`repeatWindowDays` of the metrics file) as it is when an event is applied.
    public var repeatWindowDays: @Sendable () -> Int

    /// The key space of the guest lock ``received(_:on:logger:)`` takes, named after the schema
    /// (``guestLockSpace(schema:)``): a rebuild into a schema of its own never waits on the live
    /// service's guests, nor they on it.
    public var guestLockSpace: String

    /// The recorder of the metrics schema `schema`: its live channel and guest-lock key space.
    public init(schema: String, repeatWindowDays: @escaping @Sendable () -> Int = { 30 }) {
        self.liveChannel = Self.liveChannel(schema: schema)
        self.guestLockSpace = Self.guestLockSpace(schema: schema)
        self.repeatWindowDays = repeatWindowDays
    }

    /// The guest lock's key space in the metrics schema `schema`.
    public static func guestLockSpace(schema: String) -> String { "redress.metrics.guest:\(schema)" }

    /// SQL: whether an upsert's status (`EXCLUDED`) replaces the row's (`c`). A staff action's status
    /// outranks `assigned`, which outranks `registered`; within a rank the later one wins. So an
    /// assignment read after a resolution stamped earlier never makes a resolved complaint look open,
    /// whatever order the topics are read in.
    static let statusWins: String = {
        let ranks = "ARRAY['\(ComplaintStatus.registered.rawValue)', '\(ComplaintStatus.assigned.rawValue)']"
        func rank(_ column: String) -> String { "coalesce(array_position(\(ranks), \(column)), 3)" }
        return "EXCLUDED.status IS NOT NULL AND (c.status IS NULL OR (\(rank("EXCLUDED.status")), EXCLUDED.status_at) >= (\(rank("c.status")), c.status_at))"
    }()

    /// SQL: whether a deadline event (`EXCLUDED`, with `deadlines_at` its stamp) sets the row's (`c`) open
    /// deadlines. The last one applied wins, not the newest stamp: the watcher stamps `timer_started` and
    /// `rescheduled` with its own processing time but `paused` and `resumed` with the staff action's, so a
    /// lagging watcher's `rescheduled` at 10:12 followed by a pause done at 10:05 dropped the pause, and a
    /// complaint on hold counted down to "overdue". `complaints.sla.v1` is keyed by complaint id and every
    /// producer's outbox sends a complaint's events in order, so they are applied in the watcher's order,
    /// in a replay too. Only one stamped before the latest reopening (read after it: the topics are read
    /// side by side) is an earlier resolve clock's and sets nothing.
    static let deadlinesApply =
        "EXCLUDED.deadlines_at IS NOT NULL AND (c.reopened_at IS NULL OR EXCLUDED.deadlines_at >= c.reopened_at)"

    /// SQL: whether a reopening (`EXCLUDED.reopened_at`) clears the row's (`c`) resolve deadline: unless it
    /// was set at or after it (the SLA topic read ahead), it is the previous clock's. (A reopening always
    /// clears acknowledge_by: a reopened clock has none.)
    static let reopeningClears =
        "EXCLUDED.reopened_at IS NOT NULL AND (c.deadlines_at IS NULL OR c.deadlines_at < EXCLUDED.reopened_at)"

    /// The live channel of the metrics schema `schema`.
    public static func liveChannel(schema: String) -> String { "\(schema)_live" }

    func received(_ event: EventEnvelope<ComplaintReceived>, on connection: PostgresConnection, logger: Logger) async throws {
        let data = event.data
        // The guest's lock before the complaint's row, as every registration takes them: no deadlock.
        if let guestKey = data.guest.guestKey {
            try await SubjectLock.acquire([data.hotelID + "|" + guestKey], keySpace: guestLockSpace, on: connection, logger: logger)
        }
        try await connection.query(
            "INSERT INTO hotels (hotel_id) VALUES (\(data.hotelID)) ON CONFLICT (hotel_id) DO NOTHING", logger: logger)
        let live = LiveUpdate(
            topic: "received", hotelId: data.hotelID, complaintId: data.complaintID, kind: data.channel.rawValue,
            status: ComplaintStatus.registered.rawValue, at: data.registeredAt
        )
        try await live.notify(on: liveChannel, with: """
            INSERT INTO complaints AS c (complaint_id, hotel_id, registered_at, channel, guest_key, vip, status, status_at, fact_at)
            VALUES (\(data.complaintID), \(data.hotelID), \(data.registeredAt), \(data.channel.rawValue), \(data.guest.guestKey),
                    \(data.guest.isVIP), \(ComplaintStatus.registered.rawValue), \(data.registeredAt), now())
            ON CONFLICT (complaint_id) DO UPDATE SET
                fact_at = now(),
                hotel_id = EXCLUDED.hotel_id, registered_at = EXCLUDED.registered_at, channel = EXCLUDED.channel,
                guest_key = EXCLUDED.guest_key, vip = EXCLUDED.vip,
                status = CASE WHEN \(unescaped: Self.statusWins) THEN EXCLUDED.status ELSE c.status END,
                status_at = CASE WHEN \(unescaped: Self.statusWins) THEN EXCLUDED.status_at ELSE c.status_at END
            """, connection: connection, logger: logger)
        if let guestKey = data.guest.guestKey {
            try await markRepeats(data.complaintID, guestKey: guestKey, hotelID: data.hotelID, registeredAt: data.registeredAt, on: connection, logger: logger)
        }
    }

    /// A complaint is a repeat when its guest complained at the same hotel within the window before it.
    /// Both directions, under a lock per guest and hotel: this complaint's flag from the earlier ones, and
    /// the later ones' flags (read before this one arrived) from this one, so the result never depends on
    /// the order registrations are read in, nor on two of them being applied at once.
    private func markRepeats(
        _ complaintID: UUID, guestKey: String, hotelID: String, registeredAt: Date, on connection: PostgresConnection, logger: Logger
    ) async throws {
        // The caller holds the guest's lock (taken before the complaint's row).
        let days = repeatWindowDays()
        // One statement: the two updates touch different rows (this complaint; later ones).
        try await connection.query("""
            WITH this AS (
                UPDATE complaints SET is_repeat = EXISTS (
                    SELECT 1 FROM complaints p
                    WHERE p.guest_key = \(guestKey) AND p.hotel_id = \(hotelID) AND p.complaint_id <> \(complaintID)
                      AND p.registered_at < \(registeredAt) AND p.registered_at >= \(registeredAt)::timestamptz - make_interval(days => \(days)::int))
                WHERE complaint_id = \(complaintID)
            )
            UPDATE complaints SET is_repeat = true, fact_at = now()
            WHERE guest_key = \(guestKey) AND hotel_id = \(hotelID) AND complaint_id <> \(complaintID) AND is_repeat IS DISTINCT FROM true
              AND registered_at > \(registeredAt) AND registered_at <= \(registeredAt)::timestamptz + make_interval(days => \(days)::int)
            """, logger: logger)
    }

    func classified(_ event: EventEnvelope<ComplaintClassified>, on connection: PostgresConnection, logger: Logger) async throws {
        let data = event.data
        let live = LiveUpdate(
            topic: "classified", hotelId: event.hotelID, complaintId: data.complaintID, severity: data.severity.rawValue,
            category: data.category.rawValue, at: data.classifiedAt
        )
        try await live.notify(on: liveChannel, with: """
            INSERT INTO complaints AS c (complaint_id, hotel_id, category, severity, classified_at, registered_at, fact_at)
            VALUES (\(data.complaintID), \(event.hotelID), \(data.category.rawValue), \(data.severity.rawValue), \(data.classifiedAt),
                    \(data.registeredAt), now())
            ON CONFLICT (complaint_id) DO UPDATE SET
                fact_at = now(),
                category = CASE WHEN c.classified_at IS NULL OR EXCLUDED.classified_at > c.classified_at
                                THEN EXCLUDED.category ELSE c.category END,
                severity = CASE WHEN c.classified_at IS NULL OR EXCLUDED.classified_at > c.classified_at
                                THEN EXCLUDED.severity ELSE c.severity END,
                classified_at = GREATEST(c.classified_at, EXCLUDED.classified_at),
                registered_at = COALESCE(c.registered_at, EXCLUDED.registered_at)
            """, connection: connection, logger: logger)
    }

    func assigned(_ event: EventEnvelope<ComplaintAssigned>, on connection: PostgresConnection, logger: Logger) async throws {
        let data = event.data
        // The first assignment moves a registered complaint to assigned (never back from a staff action:
        // see statusWins); escalations and hand-overs do not change where staff stand with it.
        let initial = data.escalationLevel == 0
        let live = LiveUpdate(
            topic: "assigned", hotelId: event.hotelID, complaintId: data.complaintID, kind: data.reason.rawValue,
            severity: data.severity.rawValue, category: data.category.rawValue, level: data.escalationLevel, at: data.assignedAt
        )
        try await live.notify(on: liveChannel, with: """
            INSERT INTO complaints AS c (
                complaint_id, hotel_id, department, assigned_at, category, severity, registered_at, escalation_level, status, status_at,
                fact_at)
            VALUES (\(data.complaintID), \(event.hotelID), \(data.department), \(data.assignedAt), \(data.category.rawValue),
                    \(data.severity.rawValue), \(data.registeredAt), \(data.escalationLevel),
                    \(initial ? ComplaintStatus.assigned.rawValue : nil), \(initial ? data.assignedAt : nil), now())
            ON CONFLICT (complaint_id) DO UPDATE SET
                fact_at = now(),
                department = CASE WHEN c.assigned_at IS NULL OR EXCLUDED.assigned_at >= c.assigned_at
                                  THEN EXCLUDED.department ELSE c.department END,
                assigned_at = GREATEST(c.assigned_at, EXCLUDED.assigned_at),
                category = CASE WHEN c.classified_at IS NULL THEN EXCLUDED.category ELSE c.category END,
                severity = CASE WHEN c.classified_at IS NULL THEN EXCLUDED.severity ELSE c.severity END,
                registered_at = COALESCE(c.registered_at, EXCLUDED.registered_at),
                escalation_level = GREATEST(c.escalation_level, EXCLUDED.escalation_level),
                status = CASE WHEN \(unescaped: Self.statusWins) THEN EXCLUDED.status ELSE c.status END,
                status_at = CASE WHEN \(unescaped: Self.statusWins) THEN EXCLUDED.status_at ELSE c.status_at END
            """, connection: connection, logger: logger)
    }

    func updated(_ event: EventEnvelope<ComplaintUpdated>, on connection: PostgresConnection, logger: Logger) async throws {
        let data = event.data
        let at = data.occurredAt
        var acknowledgedAt: Date?, resolvedAt: Date?, firstContact: Bool?, rootCause: String?, closedAt: Date?, reopenedAt: Date?
        var reopenings = 0, guestNotes = 0
        var followUp: (at: Date, satisfaction: Int, nps: Int)?
        switch data.change {
        case .acknowledged: acknowledgedAt = at
        case .resolved(let resolution):
            resolvedAt = at
            firstContact = resolution.isFirstContact
            rootCause = resolution.rootCause
        case .reopened:
            reopenings = 1
            reopenedAt = at
        case .followUpRecorded(let answer): followUp = (at, answer.satisfaction, answer.nps)
        case .closed: closedAt = at
        case .noteAdded(let note): guestNotes = note.visibility == .guest ? 1 : 0
        case .compensationRequested(let compensation):
            try await recordCompensation(compensation, status: .compensationRequested, event: event, on: connection, logger: logger)
        case .compensationApproved(let compensation):
            try await recordCompensation(compensation, status: .compensationApproved, event: event, on: connection, logger: logger)
        case .compensationRejected(let compensation):
            try await recordCompensation(compensation, status: .compensationRejected, event: event, on: connection, logger: logger)
        case .waitingForGuest, .resumed: break
        }
        let live = LiveUpdate(
            topic: "updated", hotelId: event.hotelID, complaintId: data.complaintID, kind: data.kind.rawValue,
            status: data.statusAfter.rawValue, at: at
        )
        try await live.notify(on: liveChannel, with: """
            INSERT INTO complaints AS c (
                complaint_id, hotel_id, status, status_at, acknowledged_at, first_resolved_at, resolved_at, first_contact, root_cause,
                reopen_count, satisfaction, nps, followed_up_at, closed_at, guest_notes, reopened_at, fact_at)
            VALUES (\(data.complaintID), \(event.hotelID), \(data.statusAfter.rawValue), \(at), \(acknowledgedAt), \(resolvedAt),
                    \(resolvedAt), \(firstContact), \(rootCause), \(reopenings), \(followUp?.satisfaction), \(followUp?.nps),
                    \(followUp?.at), \(closedAt), \(guestNotes), \(reopenedAt), now())
            ON CONFLICT (complaint_id) DO UPDATE SET
                fact_at = now(),
                -- A reopening starts a new resolve clock: the deadlines known from before it are the old clock's
                -- (NULL: not known yet) until the watcher's next deadline event sets them. The new clock has no
                -- acknowledge deadline (the watcher's rescheduled on a reopening carries none), so the old one
                -- goes too: a complaint resolved without an acknowledgement and reopened days later was listed
                -- "acknowledge overdue" at the top of /v1/open. One read after the reopening (stamped at or
                -- after it: the SLA topic was ahead) is already the new clock's resolve deadline. acknowledge_by
                -- goes whatever the stamps: a reopened clock never has one, and one set at or after the reopening
                -- came from an sla-watcher older than d4748d9 (the first clock's, long past, on its resumed).
                acknowledge_by = CASE WHEN EXCLUDED.reopened_at IS NOT NULL THEN NULL ELSE c.acknowledge_by END,
                resolve_by = CASE WHEN \(unescaped: Self.reopeningClears) THEN NULL ELSE c.resolve_by END,
                reopened_at = GREATEST(c.reopened_at, EXCLUDED.reopened_at),
                status = CASE WHEN \(unescaped: Self.statusWins) THEN EXCLUDED.status ELSE c.status END,
                status_at = CASE WHEN \(unescaped: Self.statusWins) THEN EXCLUDED.status_at ELSE c.status_at END,
                acknowledged_at = LEAST(c.acknowledged_at, EXCLUDED.acknowledged_at),
                first_contact = CASE WHEN EXCLUDED.first_resolved_at IS NOT NULL
                                      AND (c.first_resolved_at IS NULL OR EXCLUDED.first_resolved_at < c.first_resolved_at)
                                     THEN EXCLUDED.first_contact ELSE c.first_contact END,
                first_resolved_at = LEAST(c.first_resolved_at, EXCLUDED.first_resolved_at),
                root_cause = CASE WHEN EXCLUDED.resolved_at IS NOT NULL AND (c.resolved_at IS NULL OR EXCLUDED.resolved_at >= c.resolved_at)
                                  THEN EXCLUDED.root_cause ELSE c.root_cause END,
                resolved_at = GREATEST(c.resolved_at, EXCLUDED.resolved_at),
                reopen_count = c.reopen_count + EXCLUDED.reopen_count,
                satisfaction = CASE WHEN EXCLUDED.followed_up_at IS NOT NULL
                                     AND (c.followed_up_at IS NULL OR EXCLUDED.followed_up_at >= c.followed_up_at)
                                    THEN EXCLUDED.satisfaction ELSE c.satisfaction END,
                nps = CASE WHEN EXCLUDED.followed_up_at IS NOT NULL AND (c.followed_up_at IS NULL OR EXCLUDED.followed_up_at >= c.followed_up_at)
                           THEN EXCLUDED.nps ELSE c.nps END,
                followed_up_at = GREATEST(c.followed_up_at, EXCLUDED.followed_up_at),
                closed_at = GREATEST(c.closed_at, EXCLUDED.closed_at),
                guest_notes = c.guest_notes + EXCLUDED.guest_notes
            """, connection: connection, logger: logger)
    }

    private func recordCompensation(
        _ compensation: Compensation, status: ComplaintUpdated.Kind, event: EventEnvelope<ComplaintUpdated>,
        on connection: PostgresConnection, logger: Logger
    ) async throws {
        let requested = status == .compensationRequested
        let at = event.data.occurredAt
        // A decision (approved, rejected) wins over the request whatever order they come in.
        try await connection.query("""
            INSERT INTO compensations AS p (
                compensation_id, complaint_id, hotel_id, kind, currency, amount_minor, status, requested_at, decided_at)
            VALUES (\(compensation.id), \(event.data.complaintID), \(event.hotelID), \(compensation.kind.rawValue), \(compensation.currency),
                    \(compensation.amountMinor), \(status.rawValue), \(requested ? at : nil), \(requested ? nil : at))
            ON CONFLICT (compensation_id) DO UPDATE SET
                status = CASE WHEN EXCLUDED.decided_at IS NOT NULL THEN EXCLUDED.status ELSE p.status END,
                amount_minor = CASE WHEN EXCLUDED.decided_at IS NOT NULL THEN EXCLUDED.amount_minor ELSE p.amount_minor END,
                currency = CASE WHEN EXCLUDED.decided_at IS NOT NULL THEN EXCLUDED.currency ELSE p.currency END,
                requested_at = COALESCE(p.requested_at, EXCLUDED.requested_at),
                decided_at = COALESCE(EXCLUDED.decided_at, p.decided_at)
            """, logger: logger)
    }

    func sla(_ event: EventEnvelope<ComplaintSLAEvent>, on connection: PostgresConnection, logger: Logger) async throws {
        let data = event.data
        // Met and breached count for the acknowledge and resolve deadlines (the KPIs' two targets).
        let acknowledge = data.target == .acknowledge, resolve = data.target == .resolve
        var met = 0, breached = 0, level = 0
        var deadlines: (acknowledgeBy: Date?, resolveBy: Date?)?
        switch data.milestone {
        case .met: met = 1
        case .breached: breached = 1
        case .escalated(let escalation): level = escalation.level
        case .timerStarted, .rescheduled, .resumed, .paused: deadlines = (data.acknowledgeBy, data.resolveBy)
        case .warning, .followUpDue, .ceilingReached: break
        }
        switch data.milestone {
        case .breached, .escalated, .ceilingReached:
            try await connection.query("""
                INSERT INTO sla_incidents (event_id, complaint_id, hotel_id, kind, target, level, severity, occurred_at)
                VALUES (\(event.id), \(data.complaintID), \(event.hotelID), \(data.kind.rawValue), \(data.target.rawValue),
                        \(level == 0 ? nil : level), \(data.severity.rawValue), \(data.occurredAt))
                ON CONFLICT (event_id) DO NOTHING
                """, logger: logger)
        default: break
        }
        // A pause stops the countdown: no resolve deadline while the clock stands still.
        let paused = data.kind == .paused
        let live = LiveUpdate(
            topic: "sla", hotelId: event.hotelID, complaintId: data.complaintID, kind: data.kind.rawValue, severity: data.severity.rawValue,
            level: level == 0 ? nil : level, at: data.occurredAt
        )
        try await live.notify(on: liveChannel, with: """
            INSERT INTO complaints AS c (
                complaint_id, hotel_id, acknowledge_met, acknowledge_breaches, resolve_met, resolve_breaches, escalation_level,
                acknowledge_by, resolve_by, deadlines_at, fact_at)
            VALUES (\(data.complaintID), \(event.hotelID), \(acknowledge ? met : 0), \(acknowledge ? breached : 0),
                    \(resolve ? met : 0), \(resolve ? breached : 0), \(level),
                    \(deadlines?.acknowledgeBy), \(paused ? nil : deadlines?.resolveBy), \(deadlines == nil ? nil : data.occurredAt), now())
            ON CONFLICT (complaint_id) DO UPDATE SET
                fact_at = now(),
                acknowledge_met = c.acknowledge_met + EXCLUDED.acknowledge_met,
                acknowledge_breaches = c.acknowledge_breaches + EXCLUDED.acknowledge_breaches,
                resolve_met = c.resolve_met + EXCLUDED.resolve_met,
                resolve_breaches = c.resolve_breaches + EXCLUDED.resolve_breaches,
                escalation_level = GREATEST(c.escalation_level, EXCLUDED.escalation_level),
                -- A reopened complaint's clock has no acknowledge deadline (the watcher's awaitsAcknowledgement is
                -- false once reopened): an sla-watcher older than d4748d9 still sends the first clock's, long past,
                -- on its resumed and reclassification rescheduled, stamped after the reopening.
                acknowledge_by = CASE WHEN c.reopened_at IS NOT NULL THEN NULL
                                      WHEN \(unescaped: Self.deadlinesApply) THEN EXCLUDED.acknowledge_by ELSE c.acknowledge_by END,
                resolve_by = CASE WHEN \(unescaped: Self.deadlinesApply) THEN EXCLUDED.resolve_by ELSE c.resolve_by END,
                deadlines_at = CASE WHEN \(unescaped: Self.deadlinesApply) THEN EXCLUDED.deadlines_at ELSE c.deadlines_at END
            """, connection: connection, logger: logger)
    }

    func notification(_ event: EventEnvelope<NotificationOutcome>, on connection: PostgresConnection, logger: Logger) async throws {
        let data = event.data
        try await connection.query("""
            INSERT INTO notification_outcomes (hotel_id, day, channel, status, count)
            VALUES (\(event.hotelID), (\(data.occurredAt)::timestamptz AT TIME ZONE 'UTC')::date, \(data.channel.rawValue),
                    \(data.status.kind.rawValue), 1)
            ON CONFLICT (hotel_id, day, channel, status) DO UPDATE SET count = notification_outcomes.count + 1
            """, logger: logger)
    }
}
