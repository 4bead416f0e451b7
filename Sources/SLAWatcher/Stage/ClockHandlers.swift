import ComplaintEvents
import ComplaintPipeline
import Foundation
import Logging
import PostgresNIO

/// `complaints.assigned.v1` → the clocks start (from the registration time in the event) and
/// `timer_started` is announced with both deadlines. Later assignments (escalations, hand-overs) change
/// nothing, except that while no classification was seen a changed severity or category reschedules, and
/// that a newer assignment naming another department (a reclassification its owner keeps,
/// `department_changed`) moves the clocks to that department's calendar: when that moves a deadline, the
/// open ones are recomputed and announced as `rescheduled`. An older assignment read again never moves
/// them back (the clock keeps when the assignment its department comes from was made).
/// What staff did before the clocks started (acknowledged, resolved or closed before the assignment reached
/// the watcher: another topic) is judged as the clocks start: a target it stopped gets its verdict, `met`
/// or `breached`, and nothing else (no warning, escalation, ceiling or follow-up of it fires late:
/// those are calls to act, and it was acted on); a target still running is armed as it would have been
/// (``Clockwork/armStarting(_:now:context:)``), what came due on it firing from the sweep.
public struct AssignedClockHandler: EventHandler {
    public var clockwork: Clockwork

    public init(clockwork: Clockwork) {
        self.clockwork = clockwork
    }

    public func handle(_ event: EventEnvelope<ComplaintAssigned>, context: HandlerContext) async throws -> [OutgoingEvent] {
        let data = event.data
        var record = try await clockwork.lockedRecord(data.complaintID, hotelID: event.hotelID, context: context)
        let wasStarted = record.isStarted
        if !wasStarted, clockwork.isBeyondRetention(data.registeredAt) {
            // Its clock was purged (a reassignment after a late reopening) or this is an old assignment read
            // again: starting now would fire every deadline of back then at once, escalations included.
            context.logger.info("no clock started: the complaint was registered before the SLA retention (SLA_RETENTION_DAYS)", metadata: [
                LoggingKeys.complaintID: "\(data.complaintID.lowercasedString)", "sla.registered": "\(data.registeredAt)",
            ])
            return []
        }
        // A verdict from complaints.classified.v1 is newer than what an assignment repeats.
        let followsAssignment = record.classifiedAt == nil
        let changed = followsAssignment && (record.category != data.category || record.severity != data.severity)
        let moved = wasStarted && data.department != record.department && record.departmentAt.map { data.assignedAt > $0 } ?? true
        guard !wasStarted || changed || moved else { return [] }
        let timersBefore = clockwork.desiredTimers(of: record)
        if moved || record.department == nil {
            record.department = data.department
            record.departmentAt = data.assignedAt
        }
        if followsAssignment {
            record.category = data.category
            record.severity = data.severity
        }
        record.registeredAt = record.registeredAt ?? data.registeredAt
        record.resolveStartedAt = record.resolveStartedAt ?? data.registeredAt
        try clockwork.requirePolicy(for: record)
        try await clockwork.store.save(record, on: context.connection, logger: context.logger)
        let now = clockwork.clock()
        if wasStarted {
            // Another department on the same calendar moves no deadline: nothing to announce.
            guard changed || clockwork.desiredTimers(of: record) != timersBefore else {
                context.logger.info("department moved; its calendar gives the same deadlines", metadata: ["sla.department": "\(data.department)"])
                return []
            }
            return try await clockwork.reschedule(record, decidedAt: data.assignedAt, now: now, cause: event, context: context)
        }
        try await clockwork.armStarting(record, now: now, context: context)
        guard let (clocks, arithmetic) = clockwork.clocks(of: record) else { return [] }
        let deadline = clocks.acknowledgeDue(arithmetic) ?? clocks.resolveDue(arithmetic) ?? data.registeredAt
        var events = [try clockwork.event(
            .timerStarted, target: .acknowledge, deadline: deadline, of: record, occurredAt: now, openDeadlines: true,
            traceParent: event.traceParent, traceState: event.traceState)]
        // What stopped each target: its own action (`met` when in time), or the resolution or closing that
        // ended the complaint before it (a verdict only when late, as its breach timer would have been).
        let ended = record.resolvedAt ?? record.closedAt
        for (target, done, stopped, due) in [
            (SLATarget.acknowledge, record.acknowledgedAt, record.acknowledgedAt ?? (clocks.isReopened ? nil : ended), clocks.acknowledgeDue(arithmetic)),
            (.resolve, record.resolvedAt, ended, clocks.resolveDue(arithmetic)),
        ] {
            guard let stopped, let due else { continue }
            if due.isBefore(stopped) {
                events.append(try clockwork.event(
                    .breached, target: target, deadline: due, of: record, occurredAt: now, lateness: now.timeIntervalSince(due),
                    traceParent: event.traceParent, traceState: event.traceState))
            } else if let done {
                events.append(
                    try clockwork.event(.met, target: target, deadline: due, of: record, occurredAt: done, traceParent: event.traceParent, traceState: event.traceState))
            }
        }
        return events
    }
}

/// `complaints.classified.v1` → the verdict the clocks follow. A newer verdict that changes the severity or
/// category of a running clock (a reclassification, a repeat complaint raising the severity) recomputes the
/// open deadlines under the policy for it and announces them as `rescheduled`; an older or repeated one
/// changes nothing. A verdict that arrives before the assignment only records the facts.
public struct ClassifiedClockHandler: EventHandler {
    public var clockwork: Clockwork

    public init(clockwork: Clockwork) {
        self.clockwork = clockwork
    }

    public func handle(_ event: EventEnvelope<ComplaintClassified>, context: HandlerContext) async throws -> [OutgoingEvent] {
        let data = event.data
        var record = try await clockwork.lockedRecord(data.complaintID, hotelID: event.hotelID, context: context)
        if let seen = record.classifiedAt, data.classifiedAt <= seen { return [] }
        let changed = record.category != data.category || record.severity != data.severity
        record.classifiedAt = data.classifiedAt
        record.category = data.category
        record.severity = data.severity
        if let registeredAt = data.registeredAt {
            record.registeredAt = record.registeredAt ?? registeredAt
            record.resolveStartedAt = record.resolveStartedAt ?? registeredAt
        }
        try clockwork.requirePolicy(for: record)
        try await clockwork.store.save(record, on: context.connection, logger: context.logger)
        guard record.isStarted, changed else { return [] }
        return try await clockwork.reschedule(record, decidedAt: data.classifiedAt, now: clockwork.clock(), cause: event, context: context)
    }
}

/// `complaints.updated.v1` → what staff did to the clocks: acknowledged and resolved stop them (`met`
/// when in time), reopened starts a new resolve clock, waiting for the guest pauses them and resuming
/// continues them (`paused`, `resumed` with the new deadlines), closed ends them.
///
/// An action the clock has already moved past changes nothing: the inbox forgets event ids after a week,
/// so old actions read again under new ids (an offset reset, a replay) must not reopen a resolved
/// complaint, resolve or close it again, or pause it a second time. Actions of one complaint arrive in
/// order (one key, one partition), so an action at or before what the clock records is such a replay.
public struct UpdatedClockHandler: EventHandler {
    public var clockwork: Clockwork

    public init(clockwork: Clockwork) {
        self.clockwork = clockwork
    }

    public func handle(_ event: EventEnvelope<ComplaintUpdated>, context: HandlerContext) async throws -> [OutgoingEvent] {
        let data = event.data
        switch data.change {
        case .acknowledged, .resolved, .reopened, .waitingForGuest, .resumed, .closed: break
        default: return []
        }
        var record = try await clockwork.lockedRecord(data.complaintID, hotelID: event.hotelID, context: context)
        let before = clockwork.clocks(of: record)
        let at = data.occurredAt
        // Whatever happened before the last reopening belongs to an earlier resolve clock.
        let reopenedAt = record.resolveGeneration > 1 ? record.resolveStartedAt : nil
        if let reopenedAt, at.isBefore(reopenedAt) { return [] }
        var events: [OutgoingEvent] = []
        func emit(_ milestone: ComplaintSLAEvent.Milestone, _ target: SLATarget, deadline: Date?, openDeadlines: Bool = false) throws {
            guard let deadline, record.isStarted else { return }
            events.append(try clockwork.event(
                milestone, target: target, deadline: deadline, of: record, occurredAt: at, openDeadlines: openDeadlines,
                traceParent: event.traceParent, traceState: event.traceState))
        }
        switch data.change {
        case .acknowledged:
            guard record.acknowledgedAt == nil else { return [] }
            record.acknowledgedAt = at
            if let (clocks, arithmetic) = before, let due = clocks.acknowledgeDue(arithmetic), !due.isBefore(at) {
                try emit(.met, .acknowledge, deadline: due)
            }
        case .resolved:
            if let resolvedAt = record.resolvedAt, !resolvedAt.isBefore(at) { return [] }
            // Staff may resolve straight from waiting for the guest: the pause ends there, and the
            // deadline counts it (while the pause was open there was none to meet).
            if record.isPaused { record.pauses[record.pauses.count - 1].end = at }
            if let (clocks, arithmetic) = clockwork.clocks(of: record), let due = clocks.resolveDue(arithmetic), !due.isBefore(at) {
                try emit(.met, .resolve, deadline: due)
            }
            record.resolvedAt = at
        case .reopened:
            // Only a resolved or closed complaint reopens, after it was resolved or closed.
            guard let ended = [record.resolvedAt, record.closedAt].compactMap({ $0 }).max(), ended.isBefore(at) else {
                if !record.isStarted && record.resolvedAt == nil && record.closedAt == nil {
                    // Nothing known of it: its clock was purged after the retention (or never reached the
                    // watcher). No clock runs for this reopening; nothing is published or armed.
                    context.logger.warning(
                        "reopened complaint has no clock here (purged after SLA_RETENTION_DAYS, or never started): no SLA clock runs for the reopening",
                        metadata: [LoggingKeys.complaintID: "\(data.complaintID.lowercasedString)"])
                }
                return []
            }
            // The ceiling counts the time open: the time resolved until now is added to it.
            record.reopen(at: at)
            // A new resolve clock: its deadline is published, so that a dashboard or a report stops
            // counting down to the first clock's (long past) deadline.
            let reopened = clockwork.clocks(of: record).flatMap { $0.clocks.resolveDue($0.arithmetic) }
            try emit(.rescheduled, .resolve, deadline: reopened, openDeadlines: true)
        case .waitingForGuest:
            guard !record.isPaused else { return [] }
            if let last = record.pauses.last, at.isBefore(last.end ?? last.start) { return [] }
            let pending = before.flatMap { $0.clocks.resolveDue($0.arithmetic) }
            record.pauses.append(ClockPause(start: at))
            try emit(.paused, .resolve, deadline: pending)
        case .resumed:
            guard record.isPaused, let pause = record.pauses.last, !at.isBefore(pause.start) else { return [] }
            record.pauses[record.pauses.count - 1].end = at
            let due = clockwork.clocks(of: record).flatMap { $0.clocks.resolveDue($0.arithmetic) }
            try emit(.resumed, .resolve, deadline: due, openDeadlines: true)
        case .closed:
            if let closedAt = record.closedAt, !closedAt.isBefore(at) { return [] }
            record.closedAt = at
        default:
            return []
        }
        try await clockwork.store.save(record, on: context.connection, logger: context.logger)
        // Timers due by the time of the action still fire; later ones follow the new state.
        try await clockwork.rearm(record, now: at, context: context)
        return events
    }
}

extension Date {
    /// PostgreSQL's epoch, from which postgres-nio stores a `Date` in whole microseconds (truncated).
    static let storageEpoch = Date(timeIntervalSince1970: 946_684_800)

    /// This time as postgres-nio stores it: microseconds since ``storageEpoch``, truncated as it does.
    var storedMicroseconds: Int64 { Int64(timeIntervalSince(Date.storageEpoch) * 1_000_000) }

    /// The millisecond this time falls in, as stored, rounded half up. Events carry their times to the
    /// millisecond and the clock stores them to the microsecond (a deadline computed from a stored
    /// registration can lie a microsecond off): the handlers here and the timers' SQL
    /// (``ClockStore/arm(_:for:now:on:logger:)``) both compare this, so they never disagree.
    var storedMillisecond: Int64 {
        let micro = storedMicroseconds + 500
        return micro >= 0 ? micro / 1000 : (micro - 999) / 1000
    }

    /// The first stored microsecond whose ``storedMillisecond`` is this time's: a stored time at or after
    /// it is not before this one.
    var firstStoredMicrosecondOfItsMillisecond: Int64 { storedMillisecond * 1000 - 500 }

    /// Earlier than `other` by a whole millisecond, as stored (``storedMillisecond``). An action at its
    /// deadline is in time, and a timer due then does not fire (``ClockStore/arm(_:for:now:on:logger:)``).
    func isBefore(_ other: Date) -> Bool { storedMillisecond < other.storedMillisecond }
}
