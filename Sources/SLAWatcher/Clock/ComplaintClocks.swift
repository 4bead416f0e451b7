import Foundation
import HotelTime

/// A stretch during which a complaint's clocks stood still (waiting for the guest); `end` is `nil`
/// while it lasts.
public struct ClockPause: Sendable, Hashable, Codable {
    public var start: Date
    public var end: Date?

    public init(start: Date, end: Date? = nil) {
        self.start = start
        self.end = end
    }
}

/// Running time on a calendar in a time zone, with pauses taken out: the arithmetic every SLA
/// deadline of a complaint is made of.
public struct ClockArithmetic: Sendable {
    public var calendar: BusinessCalendar
    public var timeZone: TimeZone

    public init(calendar: BusinessCalendar, timeZone: TimeZone) {
        self.calendar = calendar
        self.timeZone = timeZone
    }

    /// The instant at which a clock started at `start` has run `budget` (business time, pauses excluded);
    /// `nil` while a pause that has not ended stands in the way (or the calendar never opens).
    public func due(start: Date, budget: TimeInterval, pauses: [ClockPause]) -> Date? {
        var from = start
        var remaining = budget
        for pause in pauses.sorted(by: { $0.start < $1.start }) {
            let pauseEnd = pause.end ?? .distantFuture
            guard pauseEnd > from else { continue }
            guard let candidate = calendar.deadline(from: from, adding: remaining, in: timeZone) else { return nil }
            if candidate <= pause.start { return candidate }
            // The clock runs until the pause, then waits for its end.
            if pause.start > from { remaining -= calendar.businessTime(from: from, to: pause.start, in: timeZone) }
            guard let end = pause.end else { return nil }
            from = end
        }
        return calendar.deadline(from: from, adding: remaining, in: timeZone)
    }

    /// How long a clock started at `start` has run by `instant` (business time, pauses excluded).
    public func elapsed(start: Date, until instant: Date, pauses: [ClockPause]) -> TimeInterval {
        var total = calendar.businessTime(from: start, to: instant, in: timeZone)
        for pause in pauses {
            let from = max(pause.start, start), to = min(pause.end ?? instant, instant)
            if to > from { total -= calendar.businessTime(from: from, to: to, in: timeZone) }
        }
        return max(0, total)
    }
}

/// Which deadline a timer stands for.
public enum ClockTimer: Sendable, Hashable, Comparable, CustomStringConvertible {
    case acknowledgeWarning
    case acknowledgeBreach
    case resolveWarning
    case resolveBreach
    case escalation(level: Int)
    case followUp
    case ceiling

    public var description: String {
        switch self {
        case .acknowledgeWarning: "acknowledge_warning"
        case .acknowledgeBreach: "acknowledge_breach"
        case .resolveWarning: "resolve_warning"
        case .resolveBreach: "resolve_breach"
        case .escalation(let level): "escalation_\(level)"
        case .followUp: "followup"
        case .ceiling: "ceiling"
        }
    }

    public static func < (lhs: ClockTimer, rhs: ClockTimer) -> Bool { lhs.description < rhs.description }
}

/// One complaint's clocks as far as the watcher knows: its registration, policy and calendar, and what
/// staff did (acknowledged, resolved, reopened, paused). ``dueTimes()`` gives every timer still to come,
/// always computed from the registration time in the events, so a lagging or restarted watcher never
/// extends a deadline.
public struct ComplaintClocks: Sendable, Hashable {
    public var registeredAt: Date
    public var policy: SLAPolicy
    /// When acknowledged (stops the response clock).
    public var acknowledgedAt: Date?
    /// When the current resolve clock started: registration, or the last reopening.
    public var resolveStartedAt: Date
    /// Which resolve clock runs: 1 from registration, one more at each reopening.
    public var resolveGeneration: Int
    /// When resolved (stops the resolve clock, starts the follow-up).
    public var resolvedAt: Date?
    /// Waiting for the guest: clocks stand still.
    public var pauses: [ClockPause]
    /// Wall time spent resolved (or closed) before the reopenings, from each resolution to the reopening
    /// after it: the ceiling counts only the time the complaint was open.
    public var timeResolved: TimeInterval

    public init(
        registeredAt: Date, policy: SLAPolicy, acknowledgedAt: Date? = nil, resolveStartedAt: Date? = nil, resolvedAt: Date? = nil,
        pauses: [ClockPause] = [], timeResolved: TimeInterval = 0, resolveGeneration: Int = 1
    ) {
        self.registeredAt = registeredAt
        self.policy = policy
        self.acknowledgedAt = acknowledgedAt
        self.resolveStartedAt = resolveStartedAt ?? registeredAt
        self.resolvedAt = resolvedAt
        self.pauses = pauses
        self.timeResolved = timeResolved
        self.resolveGeneration = resolveGeneration
    }

    /// Whether the current resolve clock is a reopening's (a resolution came before it), as the handlers
    /// count them: not from the times, which a reopening stamped before the registration (a desk clock
    /// behind intake's) would hide.
    public var isReopened: Bool { resolveGeneration > 1 }

    /// Whether the response clock runs: not acknowledged, and not reopened (a reopened complaint was
    /// answered by its resolution, so no acknowledge deadline of it is open).
    public var awaitsAcknowledgement: Bool { acknowledgedAt == nil && !isReopened }

    /// When the complaint will have been open for the policy's ceiling: wall time from registration,
    /// pauses included, the time it spent resolved before a reopening not. Registered Monday 10:00,
    /// resolved 11:00 and reopened Thursday 12:00, it has been open one hour: the 72 h ceiling is due 71 h
    /// after the reopening, Sunday 11:00.
    public var ceilingDue: Date {
        registeredAt.addingTimeInterval(policy.ceiling.timeInterval + timeResolved)
    }

    /// The acknowledge-by deadline (`nil` while paused).
    public func acknowledgeDue(_ arithmetic: ClockArithmetic) -> Date? {
        arithmetic.due(start: registeredAt, budget: policy.response.timeInterval, pauses: pauses)
    }

    /// The resolve-by deadline of the current resolve clock (`nil` while paused).
    public func resolveDue(_ arithmetic: ClockArithmetic) -> Date? {
        arithmetic.due(start: resolveStartedAt, budget: policy.resolve.timeInterval, pauses: pauses)
    }

    /// Every timer still to come and when it is due. Stopped clocks have none; paused clocks have none
    /// until they resume; the ceiling runs in wall time while the complaint is open (``ceilingDue``). A
    /// reopened complaint was answered by its resolution: its response clock does not run again, so no
    /// deadline of a reopening lies before it.
    public func dueTimes(_ arithmetic: ClockArithmetic) -> [ClockTimer: Date] {
        var timers: [ClockTimer: Date] = [:]
        var acknowledgeBreach: Date?
        var resolveBreach: Date?
        if awaitsAcknowledgement && resolvedAt == nil {
            acknowledgeBreach = acknowledgeDue(arithmetic)
            timers[.acknowledgeBreach] = acknowledgeBreach
            timers[.acknowledgeWarning] = arithmetic.due(
                start: registeredAt, budget: policy.warning.offset(into: policy.response), pauses: pauses)
        }
        if resolvedAt == nil {
            resolveBreach = resolveDue(arithmetic)
            timers[.resolveBreach] = resolveBreach
            timers[.resolveWarning] = arithmetic.due(
                start: resolveStartedAt, budget: policy.warning.offset(into: policy.resolve), pauses: pauses)
            timers[.ceiling] = ceilingDue
        } else if let resolvedAt {
            timers[.followUp] = resolvedAt.addingTimeInterval(policy.followUp.timeInterval)
        }
        for step in policy.escalation {
            let breach = step.when == .responseBreached ? acknowledgeBreach : resolveBreach
            if let breach { timers[.escalation(level: step.level)] = breach.addingTimeInterval(step.after.timeInterval) }
        }
        return timers
    }
}
