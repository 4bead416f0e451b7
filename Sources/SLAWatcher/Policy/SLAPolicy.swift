import ComplaintEvents
import Foundation
import HotelTime

/// What breaches of an SLA escalate, and when: level N when the response or resolve target is
/// breached, optionally some time after the breach.
public struct EscalationStep: Sendable, Hashable, Codable {
    /// Which breach starts this step's clock.
    public enum Trigger: String, Sendable, Hashable, Codable, CaseIterable {
        case responseBreached = "response_breached"
        case resolveBreached = "resolve_breached"
    }

    public var level: Int
    public var when: Trigger
    /// How long after the breach (0: at the breach).
    public var after: PolicyDuration
    /// The role the event names; by default department head, duty manager, general manager for 1, 2, 3.
    public var to: EscalationRole

    public init(level: Int, when: Trigger, after: PolicyDuration = PolicyDuration(seconds: 0), to: EscalationRole? = nil) {
        self.level = level
        self.when = when
        self.after = after
        self.to = to ?? EscalationStep.defaultRole(level: level)
    }

    public static func defaultRole(level: Int) -> EscalationRole {
        [.departmentHead, .dutyManager, .generalManager][min(max(level, 1), 3) - 1]
    }
}

/// When the warning comes: a share of the target (`80%`) or a fixed time after the clock started (`4m`).
public enum WarningPoint: Sendable, Hashable, CustomStringConvertible {
    case percent(Int)
    case after(PolicyDuration)

    public init?(_ text: String) {
        if text.hasSuffix("%") {
            guard let percent = Int(text.dropLast()) else { return nil }
            self = .percent(percent)
        } else if let duration = PolicyDuration(text) {
            self = .after(duration)
        } else {
            return nil
        }
    }

    /// The warning's offset into a clock of length `target`.
    public func offset(into target: PolicyDuration) -> TimeInterval {
        switch self {
        case .percent(let percent): target.timeInterval * Double(percent) / 100
        case .after(let duration): duration.timeInterval
        }
    }

    /// Whether the warning comes strictly before a target of `target`.
    public func isBefore(_ target: PolicyDuration) -> Bool {
        offset(into: target) < target.timeInterval
    }

    public var description: String {
        switch self {
        case .percent(let percent): "\(percent)%"
        case .after(let duration): duration.description
        }
    }
}

/// The SLA a complaint gets: its targets and what happens around them, resolved from the policy
/// rules that match its hotel, category and severity.
public struct SLAPolicy: Sendable, Hashable {
    /// Acknowledge within (business time of the department's calendar).
    public var response: PolicyDuration
    /// Resolve within (business time).
    public var resolve: PolicyDuration
    public var warning: WarningPoint
    public var escalation: [EscalationStep]
    /// Guest follow-up due this long after resolution (wall time).
    public var followUp: PolicyDuration
    /// No complaint open longer than this from registration (wall time, never paused).
    public var ceiling: PolicyDuration
    /// The names of the rules that made it, least specific first.
    public var rules: [String]

    public init(
        response: PolicyDuration, resolve: PolicyDuration, warning: WarningPoint = .percent(80),
        escalation: [EscalationStep] = SLAPolicy.defaultEscalation, followUp: PolicyDuration = .hours(24),
        ceiling: PolicyDuration = .hours(72), rules: [String] = []
    ) {
        self.response = response
        self.resolve = resolve
        self.warning = warning
        self.escalation = escalation
        self.followUp = followUp
        self.ceiling = ceiling
        self.rules = rules
    }

    /// Level 1 at the response breach, 2 at the resolve breach, 3 two hours after it.
    public static let defaultEscalation = [
        EscalationStep(level: 1, when: .responseBreached),
        EscalationStep(level: 2, when: .resolveBreached),
        EscalationStep(level: 3, when: .resolveBreached, after: .hours(2)),
    ]
}

/// One rule of the policy file: what it matches (any of hotel, category, severity; none = the group
/// default) and the settings it gives. More specific rules override less specific ones field by field;
/// the hotel counts most, then the category, then the severity.
public struct PolicyRule: Sendable, Hashable {
    public var name: String
    public var hotel: String?
    public var category: ComplaintCategory?
    public var severity: Severity?
    public var response: PolicyDuration?
    public var resolve: PolicyDuration?
    public var warning: WarningPoint?
    public var escalation: [EscalationStep]?
    public var followUp: PolicyDuration?
    public var ceiling: PolicyDuration?

    public init(
        name: String, hotel: String? = nil, category: ComplaintCategory? = nil, severity: Severity? = nil,
        response: PolicyDuration? = nil, resolve: PolicyDuration? = nil, warning: WarningPoint? = nil,
        escalation: [EscalationStep]? = nil, followUp: PolicyDuration? = nil, ceiling: PolicyDuration? = nil
    ) {
        self.name = name
        self.hotel = hotel
        self.category = category
        self.severity = severity
        self.response = response
        self.resolve = resolve
        self.warning = warning
        self.escalation = escalation
        self.followUp = followUp
        self.ceiling = ceiling
    }

    /// Hotel 4, category 2, severity 1: higher overrides lower.
    var specificity: Int { (hotel == nil ? 0 : 4) + (category == nil ? 0 : 2) + (severity == nil ? 0 : 1) }

    func matches(hotel: String, category: ComplaintCategory, severity: Severity) -> Bool {
        (self.hotel == nil || self.hotel == hotel) && (self.category == nil || self.category == category)
            && (self.severity == nil || self.severity == severity)
    }
}

/// Everything the SLA watcher reads from its policy file: rules, calendars, which department runs on
/// which calendar, and each hotel's time zone.
public struct SLAPolicies: Sendable, Hashable {
    public var rules: [PolicyRule]
    /// By name; `24x7` is always there.
    public var calendars: [String: BusinessCalendar]
    /// Department code → calendar name; departments not listed run on `24x7`.
    public var departmentCalendars: [String: String]
    /// Hotel id → IANA zone; hotels not listed use ``defaultTimeZone``.
    public var timeZones: [String: String]
    public var defaultTimeZone: String
    /// Demo and test speed (`SLA_TIME_SCALE`): every duration of the policies is divided by it (at least
    /// a second) and every department runs on `24x7`, since a compressed day has no office hours. 1 in
    /// production.
    public var timeScale: Double = 1

    public init(
        rules: [PolicyRule], calendars: [String: BusinessCalendar] = [:], departmentCalendars: [String: String] = [:],
        timeZones: [String: String] = [:], defaultTimeZone: String = "UTC"
    ) {
        self.rules = rules
        var calendars = calendars
        calendars[BusinessCalendar.alwaysOpen.name] = .alwaysOpen
        self.calendars = calendars
        self.departmentCalendars = departmentCalendars
        self.timeZones = timeZones
        self.defaultTimeZone = defaultTimeZone
    }

    /// The matching rules, least specific first (file order among equals).
    func matching(hotel: String, category: ComplaintCategory, severity: Severity) -> [(index: Int, rule: PolicyRule)] {
        rules.enumerated().filter { $0.element.matches(hotel: hotel, category: category, severity: severity) }
            .sorted { ($0.element.specificity, $0.offset) < ($1.element.specificity, $1.offset) }
            .map { ($0.offset, $0.element) }
    }

    /// The policy of a complaint; `nil` when no rule gives a response and a resolve target (the file
    /// check rejects such a file).
    public func policy(hotel: String, category: ComplaintCategory, severity: Severity) -> SLAPolicy? {
        var response: PolicyDuration?, resolve: PolicyDuration?, warning: WarningPoint?
        var escalation: [EscalationStep]?, followUp: PolicyDuration?, ceiling: PolicyDuration?
        var names: [String] = []
        for (_, rule) in matching(hotel: hotel, category: category, severity: severity) {
            response = rule.response ?? response
            resolve = rule.resolve ?? resolve
            warning = rule.warning ?? warning
            escalation = rule.escalation ?? escalation
            followUp = rule.followUp ?? followUp
            ceiling = rule.ceiling ?? ceiling
            names.append(rule.name)
        }
        guard let response, let resolve else { return nil }
        func scaled(_ duration: PolicyDuration) -> PolicyDuration {
            timeScale == 1 ? duration : PolicyDuration(seconds: max(1, Int((Double(duration.seconds) / timeScale).rounded())))
        }
        return SLAPolicy(
            response: scaled(response), resolve: scaled(resolve),
            warning: warning.map { point in if case .after(let offset) = point { .after(scaled(offset)) } else { point } } ?? .percent(80),
            escalation: (escalation ?? SLAPolicy.defaultEscalation).map { step in
                var step = step
                if step.after.seconds > 0 { step.after = scaled(step.after) }
                return step
            },
            followUp: scaled(followUp ?? .hours(24)), ceiling: scaled(ceiling ?? .hours(72)), rules: names)
    }

    /// The calendar a department's clocks run on (`24x7` at a demo ``timeScale``).
    public func calendar(forDepartment department: String) -> BusinessCalendar {
        guard timeScale == 1 else { return .alwaysOpen }
        return departmentCalendars[department].flatMap { calendars[$0] } ?? .alwaysOpen
    }

    /// A hotel's time zone.
    public func timeZone(ofHotel hotel: String) -> TimeZone {
        TimeZone(identifier: timeZones[hotel] ?? defaultTimeZone) ?? TimeZone(identifier: "UTC")!
    }
}
