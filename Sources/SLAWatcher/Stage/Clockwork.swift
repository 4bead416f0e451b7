import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import Foundation
import Logging
import PostgresNIO
import Synchronization

/// What the watcher's handlers and its timer sweep share: the policies, the arithmetic of a clock, the
/// timers it should have, and the one way its events are made.
public struct Clockwork: Sendable {
    /// The policy file in force (reloaded while running; see ``LiveConfiguration``).
    public let livePolicies: LiveConfiguration<SLAPolicies>
    /// The policies in force now: a reload applies to what is computed next (clocks that start, and the open
    /// deadlines of a complaint whenever something happens to it); timers already armed keep their due time (a due
    /// ceiling excepted, which the sweep checks against them: ``TimerSweep``).
    public var policies: SLAPolicies { livePolicies.current }
    public var store = ClockStore()
    public var outputTopic: Topic<ComplaintSLAEvent>
    /// The envelope `source` of published events.
    public var source = "/redress/sla-watcher"
    public var clock: @Sendable () -> Date = { Date() }
    /// How long the clock of a complaint that is over is kept (``ClockPurge``; `nil`: for ever). A clock
    /// is not started for a complaint registered longer ago than this: it would be one whose clock was
    /// purged — reassigned after a late reopening, or an old assignment read again — and every deadline of
    /// back then would fire at once.
    public var retention: Duration? = ClockPurge.defaultRetention
    /// Where the warning about a hotel without a time zone of its own goes (the stage's logger).
    public var logger = Logger(label: "redress.sla-watcher")
    /// The hotels already warned about, shared by every copy of this clockwork: once per hotel per process.
    let unzonedHotels = UnzonedHotels()

    public init(policies: SLAPolicies, outputTopic: Topic<ComplaintSLAEvent> = Topics.sla) {
        self.init(livePolicies: LiveConfiguration(name: "sla-policies", fixed: policies), outputTopic: outputTopic)
    }

    public init(livePolicies: LiveConfiguration<SLAPolicies>, outputTopic: Topic<ComplaintSLAEvent> = Topics.sla) {
        self.livePolicies = livePolicies
        self.outputTopic = outputTopic
    }

    /// The complaint's clock, locked for the handler's transaction (created empty when no event came before,
    /// so that two handlers of a new complaint on different topics wait for each other instead of both
    /// inserting and the later overwriting the earlier).
    public func lockedRecord(_ id: UUID, hotelID: String, context: HandlerContext) async throws -> ClockRecord {
        try await store.lockedClock(id, hotelID: hotelID, on: context.connection, logger: context.logger)
    }

    /// Whether `registeredAt` lies further back than the retention: such a complaint's clock may have been
    /// purged, so none is started for it.
    public func isBeyondRetention(_ registeredAt: Date) -> Bool {
        guard let retention else { return false }
        return registeredAt < clock().addingTimeInterval(-Double(retention.milliseconds) / 1000)
    }

    /// The policy of a started clock.
    public func policy(for record: ClockRecord) -> SLAPolicy? {
        guard let category = record.category, let severity = record.severity else { return nil }
        return policies.policy(hotel: record.hotelID, category: category, severity: severity)
    }

    /// Refuses a clock for which no rule of the policies in force gives targets.
    public func requirePolicy(for record: ClockRecord) throws {
        guard record.isStarted, policy(for: record) == nil else { return }
        throw RejectedEvent(
            "no SLA policy gives targets for a \(record.severity?.rawValue ?? "") \(record.category?.rawValue ?? "") complaint at \(record.hotelID)")
    }

    /// Business time on the department's calendar in the hotel's zone. A hotel missing from the policy
    /// file's `timeZones` is read in `defaultTimeZone` (UTC unless set): a calendar with opening hours
    /// would then run in that zone's day, so the first of its complaints clocked on such a calendar by
    /// this process logs a warning. On `24x7` the zone changes no deadline: nothing is said.
    public func arithmetic(for record: ClockRecord) -> ClockArithmetic {
        let policies = self.policies
        let calendar = policies.calendar(forDepartment: record.department ?? "")
        if policies.timeZones[record.hotelID] == nil, !calendar.isAlwaysOpen, unzonedHotels.isFirst(record.hotelID) {
            logger.warning(
                "hotel has no time zone of its own in the SLA policy file: its business hours are read in defaultTimeZone; add the hotel under timeZones",
                metadata: [
                    "sla.hotel": "\(record.hotelID)", "sla.time_zone": "\(policies.defaultTimeZone)",
                    "sla.setting": "timeZones.\(record.hotelID)",
                ])
        }
        return ClockArithmetic(calendar: calendar, timeZone: policies.timeZone(ofHotel: record.hotelID))
    }

    /// The clocks of a started record, with their arithmetic; `nil` until the assignment started them. A
    /// verdict or a staff action read before it records facts only: with no department there is no
    /// calendar to count on (24x7 would be a guess), and nothing may be armed or fire before `timer_started`.
    public func clocks(of record: ClockRecord) -> (clocks: ComplaintClocks, arithmetic: ClockArithmetic)? {
        guard record.isStarted, let policy = policy(for: record), let clocks = record.clocks(policy: policy) else { return nil }
        return (clocks, arithmetic(for: record))
    }

    /// The timers the record should have now, by row name (none before its clocks started).
    public func desiredTimers(of record: ClockRecord) -> [TimerKey: Date] {
        guard let (clocks, arithmetic) = clocks(of: record) else { return [:] }
        if record.closedAt != nil { return [:] }
        var desired: [TimerKey: Date] = [:]
        for (timer, due) in clocks.dueTimes(arithmetic) {
            desired[TimerKey(timer, generation: record.resolveGeneration)] = due
        }
        return desired
    }

    /// Arms the record's timers as they should be now (see ``ClockStore/arm(_:for:now:on:logger:)``).
    public func rearm(_ record: ClockRecord, now: Date, context: HandlerContext) async throws {
        try await store.arm(desiredTimers(of: record), for: record.complaintID, now: now, on: context.connection, logger: context.logger)
    }

    /// Arms the timers of a clock the assignment starts now: as they should be now, after removing any unfired
    /// timer rows it already had (armed on the unstarted clock by a replica older than the rule that only a
    /// started clock has timers: an upgrade, a rolling deploy). A target staff already stopped (acknowledged,
    /// resolved or closed before the assignment was read) gets no timer: it is judged as the clock starts
    /// (``AssignedClockHandler``); what came due on a target still running fires from the sweep, late.
    public func armStarting(_ record: ClockRecord, now: Date, context: HandlerContext) async throws {
        try await store.disarm(record.complaintID, on: context.connection, logger: context.logger)
        try await rearm(record, now: now, context: context)
    }

    /// After a reclassification of `record` (already saved): its timers re-armed under the policy for the new
    /// verdict and, while a target is open and running, `rescheduled` with the new deadlines. Timers of the
    /// old deadlines that were due by `decidedAt` (when the verdict was made: `classifiedAt`, never later than
    /// `now`) keep their time and still fire, however late the watcher reads the verdict; later ones move.
    public func reschedule(
        _ record: ClockRecord, decidedAt: Date, now: Date, cause: EventEnvelope<some EventPayload>, context: HandlerContext
    ) async throws -> [OutgoingEvent] {
        try await rearm(record, now: min(decidedAt, now), context: context)
        guard record.resolvedAt == nil, record.closedAt == nil, let (clocks, arithmetic) = clocks(of: record) else { return [] }
        let acknowledgeDue = clocks.awaitsAcknowledgement ? clocks.acknowledgeDue(arithmetic) : nil
        guard let deadline = acknowledgeDue ?? clocks.resolveDue(arithmetic) else { return [] }
        context.logger.info("reclassified; open deadlines recomputed", metadata: ["sla.deadline": "\(deadline)"])
        return [try event(
            .rescheduled, target: acknowledgeDue == nil ? .resolve : .acknowledge, deadline: deadline, of: record, occurredAt: now,
            openDeadlines: true, traceParent: cause.traceParent, traceState: cause.traceState)]
    }

    /// A `complaints.sla.v1` event about `record`.
    public func event(
        _ milestone: ComplaintSLAEvent.Milestone, target: SLATarget, deadline: Date, of record: ClockRecord, occurredAt: Date,
        lateness: TimeInterval? = nil, openDeadlines: Bool = false, traceParent: String? = nil, traceState: String? = nil
    ) throws -> OutgoingEvent {
        var acknowledgeBy: Date?, resolveBy: Date?
        if openDeadlines, let (clocks, arithmetic) = clocks(of: record) {
            if clocks.awaitsAcknowledgement { acknowledgeBy = clocks.acknowledgeDue(arithmetic) }
            if clocks.resolvedAt == nil { resolveBy = clocks.resolveDue(arithmetic) }
        }
        let data = ComplaintSLAEvent(
            complaintID: record.complaintID, milestone: milestone, target: target, severity: record.severity ?? .moderate, deadline: deadline,
            occurredAt: occurredAt, latenessMilliseconds: lateness.map { Int64(max(0, $0) * 1000) }, acknowledgeBy: acknowledgeBy,
            resolveBy: resolveBy)
        let envelope = EventEnvelope(
            source: source, time: occurredAt, hotelID: record.hotelID, traceParent: traceParent, traceState: traceState, data: data)
        return try OutgoingEvent(envelope, on: outputTopic)
    }
}

/// The hotels a process has warned about for having no time zone of their own, so that each is named once
/// rather than at every clock computed.
final class UnzonedHotels: Sendable {
    private let warned = Mutex<Set<String>>([])

    /// Whether `hotel` is named here for the first time (it is remembered).
    func isFirst(_ hotel: String) -> Bool { warned.withLock { $0.insert(hotel).inserted } }
}
