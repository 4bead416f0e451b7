import ComplaintEvents
import ComplaintStore
import Foundation
import Logging
import Metrics
import PostgresNIO

/// Guest messages waiting for the hotel's quiet hours to end, and the later message that makes one
/// pointless: a complaint registered and resolved in one night held both "we received your complaint"
/// and "it is resolved", and the guest got them together in the morning.
///
/// Planning only records which message supersedes a held one (``mark(_:on:logger:)``: `deliveries.superseded_by`
/// and the intent's ``NotificationIntent/supersededBy``); the delivery worker decides when the held one falls
/// due (``decide(_:client:schema:bound:logger:)``): given up as `superseded_by_<trigger>` only once the
/// superseding message was delivered; sent when that one will not be (given up, also as no longer fitting
/// the complaint's status: reopened before the morning; failed an attempt); waiting while it is still to be
/// sent. Only a message caused later supersedes one. Giving it up at planning lost both messages when the later one was never sent.
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

    /// The other triggers whose messages supersede one for `trigger` (planned after it, after an outage
    /// on another topic): a registration by a resolution's message or a survey, a resolution's by a survey.
    static func supersedingTriggers(of trigger: String) -> [String] {
        let all = [NotificationTrigger.received.name, NotificationTrigger.updated(.resolved).name, NotificationTrigger.sla(.followUpDue).name]
        return all.filter { $0 != trigger && supersededTriggers(by: $0).contains(trigger) }
    }

    /// The code of a message superseded by one for `trigger`: `superseded_by_resolved`,
    /// `superseded_by_followup_due`.
    static func code(supersededBy trigger: String) -> String {
        "superseded_by_" + (trigger.split(separator: ".").last.map(String.init) ?? trigger)
    }

    /// Whether a stored reason is a superseded message's.
    static func isSuperseded(code: String) -> Bool { code.hasPrefix("superseded_by_") }

    /// Records what `intent` (a guest message just recorded) supersedes, or what supersedes it, while the
    /// complaint's facts row is locked (the handler's transaction): the complaint's held guest messages of
    /// triggers it supersedes, and itself when held while a message of a trigger that supersedes it is
    /// planned or sent (the order after an outage). Only a message caused later supersedes (`cause_time`): a
    /// survey delivered the day before for an earlier resolution does not replace the message of a
    /// resolution since (reopened and resolved again), nor does a late-planned message for an older cause
    /// replace a held newer one. Only a held message that never made an attempt is marked:
    /// its work-queue row pending, `attempts = 0`, not leased and not due yet, checked on the row itself under
    /// its lock in the statement that marks it (a message retrying after a failed call, then held for quiet
    /// hours, is not); a message already marked keeps its superseder (which the worker follows).
    /// - Returns: The notification ids marked.
    @discardableResult
    static func mark(_ later: NotificationIntent, on connection: PostgresConnection, logger: Logger) async throws -> [UUID] {
        var marked: [(UUID, UUID)] = []
        let triggers = supersededTriggers(by: later.trigger)
        if !triggers.isEmpty {
            let rows = try await connection.query("""
                WITH held AS (
                    SELECT notification_id, cause_event_id, rule FROM deliveries
                    WHERE complaint_id = \(later.complaintID) AND recipient_kind = 'guest' AND notification_id <> \(later.notificationID)
                      AND superseded_by IS NULL AND trigger = ANY(\(triggers)) AND cause_time < \(later.causeTime)
                      AND (status = 'pending' OR (status = 'deferred' AND last_error LIKE '[quiet_hours]%'))
                ),
                queued AS (
                    SELECT w.id, held.notification_id FROM held
                    JOIN work_queue AS w ON w.idempotency_key IN (
                        held.cause_event_id::text || ':' || held.rule || ':guest:email', held.cause_event_id::text || ':' || held.rule || ':guest:sms')
                    WHERE w.kind = 'guest' AND w.status = 'pending' AND w.attempts = 0 AND w.leased_until IS NULL AND w.due_at > now()
                      AND (w.payload->>'notificationID')::uuid = held.notification_id
                    FOR UPDATE OF w
                ),
                flagged AS (
                    UPDATE work_queue AS w SET payload = jsonb_set(w.payload, '{supersededBy}', to_jsonb(\(later.notificationID.uuidString)::text))
                    FROM queued WHERE w.id = queued.id
                    RETURNING queued.notification_id
                )
                UPDATE deliveries SET superseded_by = \(later.notificationID)
                FROM flagged WHERE deliveries.notification_id = flagged.notification_id
                RETURNING deliveries.notification_id
                """, logger: logger)
            for try await id in rows.decode(UUID.self) { marked.append((id, later.notificationID)) }
        }
        let superseding = supersedingTriggers(of: later.trigger)
        if !superseding.isEmpty {
            let rows = try await connection.query("""
                WITH superseder AS (
                    SELECT notification_id FROM deliveries
                    WHERE complaint_id = \(later.complaintID) AND recipient_kind = 'guest' AND notification_id <> \(later.notificationID)
                      AND trigger = ANY(\(superseding)) AND status NOT IN ('skipped', 'given_up') AND cause_time > \(later.causeTime)
                    ORDER BY cause_time DESC, created_at DESC LIMIT 1
                ),
                queued AS (
                    SELECT id FROM work_queue
                    WHERE idempotency_key = \(later.idempotencyKey) AND kind = 'guest' AND status = 'pending' AND attempts = 0
                      AND leased_until IS NULL AND due_at > now()
                    FOR UPDATE
                ),
                flagged AS (
                    UPDATE work_queue AS w
                    SET payload = jsonb_set(w.payload, '{supersededBy}', to_jsonb(upper(superseder.notification_id::text)))
                    FROM queued, superseder WHERE w.id = queued.id
                    RETURNING superseder.notification_id
                )
                UPDATE deliveries SET superseded_by = flagged.notification_id
                FROM flagged WHERE deliveries.notification_id = \(later.notificationID) AND deliveries.superseded_by IS NULL
                RETURNING flagged.notification_id
                """, logger: logger)
            for try await by in rows.decode(UUID.self) { marked.append((later.notificationID, by)) }
        }
        for (id, by) in marked {
            logger.info("held guest notification superseded by a later one; decided when it falls due", metadata: [
                "notification.id": "\(id)", "notification.superseded_by": "\(by)",
            ])
        }
        return marked.map(\.0)
    }

    /// What becomes of a held guest message that a later one superseded, when it falls due.
    enum Decision: Equatable, Sendable {
        /// Send it: the superseding message will not reach the guest (given up, failed an attempt, its work
        /// over without success), or this one was already handed to a channel.
        case send
        /// Give it up with `code`: the superseding message was delivered.
        case supersede(code: String)
        /// Look again after `wait`: the superseding message is still to be sent (being sent: shortly;
        /// waiting: when it is due).
        case wait(Duration)
    }

    /// Decides for the held message `intent` (``NotificationIntent/supersededBy`` set), before anything else
    /// of its attempt (intake is not asked while it waits). Nothing to decide once it was handed to a channel
    /// (``recordCall(_:client:schema:bound:logger:)``): it is sent. Follows the superseders while each was itself
    /// given up as superseded (a registration superseded by a resolution's message, that one by the survey):
    /// the last one decides, by its `deliveries` row and, while that one still shows it to be sent, its
    /// work-queue row (an outcome may be recorded there alone). Delivered, or its work succeeded: give up.
    /// Its work still pending: wait while it is being sent (``minimumWait`` at a time) or until it is due, so that
    /// the two fall due, however claimed, and exactly one reaches the guest. Anything else (given up,
    /// retrying, its work failed): send. A superseder that no longer fits the complaint's status is given up
    /// by its own worker as `no_longer_applicable`, and this one then goes.
    static func decide(
        _ intent: NotificationIntent, client: PostgresClient, schema: SchemaName, bound: Duration = statementBound, logger: Logger
    ) async throws -> Decision {
        let table = "\(schema.rawValue).deliveries", queue = "\(schema.rawValue).work_queue"
        let rows = try await client.withConnection(closingAfter: bound, logger: logger) { connection in try await connection.query("""
            WITH RECURSIVE chain (notification_id, depth) AS (
                SELECT superseded_by, 1 FROM \(unescaped: table)
                WHERE notification_id = \(intent.notificationID) AND superseded_by IS NOT NULL AND called_at IS NULL
                UNION ALL
                SELECT d.superseded_by, chain.depth + 1 FROM chain JOIN \(unescaped: table) AS d ON d.notification_id = chain.notification_id
                WHERE d.superseded_by IS NOT NULL AND d.status = 'given_up' AND d.last_error LIKE '[superseded\\_by\\_%' AND chain.depth < 16
            )
            SELECT d.status, d.trigger, w.status, COALESCE(w.leased_until > clock_timestamp(), false),
                EXTRACT(EPOCH FROM w.due_at - clock_timestamp())::float8
            FROM chain JOIN \(unescaped: table) AS d USING (notification_id)
            LEFT JOIN LATERAL (
                SELECT status, leased_until, due_at FROM \(unescaped: queue) AS w
                WHERE w.kind = 'guest' AND w.idempotency_key IN (
                    d.cause_event_id::text || ':' || d.rule || ':guest:email', d.cause_event_id::text || ':' || d.rule || ':guest:sms')
                  AND (w.payload->>'notificationID')::uuid = d.notification_id
                LIMIT 1
            ) AS w ON true
            ORDER BY chain.depth
            """, logger: logger).collect() }
        let chain = try rows.map { try $0.decode((String, String?, String?, Bool, Double?).self) }
        guard let direct = chain.first, let last = chain.last else { return .send }
        let superseded = Decision.supersede(code: code(supersededBy: direct.1 ?? ""))
        switch (last.0, last.2) {
        case ("delivered", _), (_, "succeeded"):
            // Its work succeeded (recorded in the work queue alone, whatever `deliveries` last said: pending,
            // deferred, or retrying after a failed first attempt): the guest has it.
            return superseded
        case ("pending", "pending"), ("deferred", "pending"):
            // Being sent: look again shortly (a read of this table, intake is not asked). Waiting: until it is due.
            return .wait(last.3 ? minimumWait : max(minimumWait, .milliseconds(Int64((last.4 ?? 0) * 1000))))
        default:
            // Given up, retrying after a failed attempt, or its work over without success (recorded in the
            // work queue alone).
            return .send
        }
    }

    /// How long a held message waits at least before it looks at its superseder again.
    static let minimumWait: Duration = .seconds(2)

    /// Records, before the held message `intent` is handed to a channel, that a call is made: from then on
    /// ``decide(_:client:schema:bound:logger:)`` sends it on any attempt (the guest may have it already; giving it
    /// up would end its receipts without a message accounted for).
    /// - Returns: Whether this call set `called_at` (`false`: an earlier attempt had, and it stays), so that
    ///   a call then refused before it was made (``ComplaintPipeline/WorkLeaseRunningOut``) can be taken back
    ///   with ``unrecordCall(_:item:client:schema:bound:logger:)``.
    @discardableResult
    static func recordCall(
        _ intent: NotificationIntent, client: PostgresClient, schema: SchemaName, bound: Duration = statementBound, logger: Logger
    ) async throws -> Bool {
        let rows = try await client.withConnection(closingAfter: bound, logger: logger) { connection in
            try await connection.query("""
                UPDATE \(unescaped: "\(schema.rawValue).deliveries") SET called_at = clock_timestamp()
                WHERE notification_id = \(intent.notificationID) AND called_at IS NULL
                RETURNING 1
                """, logger: logger).collect()
        }
        return !rows.isEmpty
    }

    /// Takes back the `called_at` that ``recordCall(_:client:schema:bound:logger:)`` set for this attempt when
    /// the channel then refused the call before making it (its lease ran out: a wait for a database
    /// connection before the record is not bounded, so the check ahead of the record cannot promise the
    /// channel's): the message was not handed to anyone, and the next attempt decides again whether its
    /// superseder was delivered meanwhile. Left set, the guest got both.
    /// Only while `item` still holds its lease: the clear waits for a connection unbounded, and once the lease
    /// ran out another replica may have claimed the item, seen the record and sent the message; clearing it
    /// then would let a later attempt give a message that reached the guest up as superseded.
    static func unrecordCall(
        _ intent: NotificationIntent, item: WorkItem, client: PostgresClient, schema: SchemaName, bound: Duration = statementBound,
        logger: Logger
    ) async throws {
        _ = try await client.withConnection(closingAfter: bound, logger: logger) { connection in
            try await connection.query("""
                UPDATE \(unescaped: "\(schema.rawValue).deliveries") SET called_at = NULL
                WHERE notification_id = \(intent.notificationID)
                  AND EXISTS (SELECT 1 FROM \(unescaped: "\(schema.rawValue).work_queue") w WHERE w.id = \(item.id) AND w.lease_token = \(item.leaseToken))
                """, logger: logger).collect()
        }
    }

    /// The longest ``decide(_:client:schema:bound:logger:)`` and ``recordCall(_:client:schema:bound:logger:)`` may
    /// hold their connection before it is closed and the message deferred (`superseder_unknown`): unbounded,
    /// a database that paused with the statement in flight held the delivery past its lease, and the
    /// message went out after another worker had sent it too.
    static let statementBound: Duration = .seconds(15)

    /// Records that the held message of `item` was given up as superseded (`code`) in the settling
    /// transaction: `given_up` with no attempt counted, in `deliveries` and the work queue (the worker's claim
    /// counted one; no call was made), no receipt (receipts count attempts from 1), an info log line and
    /// `notifier_guest_messages_superseded_total{reason}`.
    static func recordSuperseded(
        _ intent: NotificationIntent, item: WorkItem, code: String, reason: String, on connection: PostgresConnection, logger: Logger
    ) async throws {
        try await DeliveryLedger.recordAttempt(
            intent.notificationID, status: "given_up", channel: intent.channel, attempts: max(item.attempt - 1, 0), error: reason,
            receipt: nil, settled: true, on: connection, logger: logger)
        try await connection.query("UPDATE work_queue SET attempts = GREATEST(attempts - 1, 0) WHERE id = \(item.id)", logger: logger)
        logger.info("held guest notification superseded", metadata: [
            "notification.id": "\(intent.notificationID)", "notification.rule": "\(intent.rule)", "error.code": "\(code)",
            "notification.superseded_by": "\(intent.supersededBy.map { "\($0)" } ?? "")",
        ])
        Counter(label: "notifier_guest_messages_superseded_total", dimensions: [("reason", code)]).increment()
    }
}
