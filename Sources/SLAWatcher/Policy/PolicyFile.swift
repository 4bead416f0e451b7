import ComplaintEvents
import ComplaintPipeline
import Foundation
import HotelTime

/// Reads `services/sla-watcher/policies.yaml` into ``SLAPolicies``, refusing a file with any problem —
/// an unknown severity, a warning at or after its target, a negative duration, a calendar that does not
/// exist, a complaint that would get no target — with `file:line: field: reason`.
public enum PolicyFile {
    /// The shipped file, relative to the Redress home.
    public static let defaultPath = "services/sla-watcher/policies.yaml"

    /// The longest duration a policy may give: a year.
    public static let longestDuration = PolicyDuration.days(365)

    static let allowedKeys: [String: Set<String>] = [
        "": ["timeZones", "defaultTimeZone", "calendars", "departmentCalendars", "policies"],
        "calendars": [],  // calendar names: checked below
        "policies": ["name", "hotel", "category", "severity", "response", "resolve", "warning", "escalation", "followUp", "ceiling"],
        "policies.escalation": ["level", "when", "after", "to"],
    ]

    struct RawFile: Decodable {
        var timeZones: [String: String]?
        var defaultTimeZone: String?
        var calendars: [String: RawCalendar]?
        var departmentCalendars: [String: String]?
        var policies: [RawRule]
    }

    struct RawCalendar: Decodable {
        var hours: [String: [String]]?
        var holidays: [String]?
    }

    struct RawRule: Decodable {
        var name: String?
        var hotel: String?
        var category: String?
        var severity: String?
        var response: String?
        var resolve: String?
        var warning: String?
        var escalation: [RawStep]?
        var followUp: String?
        var ceiling: String?
    }

    struct RawStep: Decodable {
        var level: Int
        var when: String
        var after: String?
        var to: String?
    }

    /// Loads and checks the policy file at `path`.
    public static func load(contentsOf path: String) throws(ConfigurationFileError) -> SLAPolicies {
        try load(try ConfigurationFile(contentsOf: path))
    }

    /// Loads and checks `file`.
    public static func load(_ file: ConfigurationFile) throws(ConfigurationFileError) -> SLAPolicies {
        if let unknown = file.unknownKeys(allowed: { shape in
            shape.hasPrefix("calendars.") ? (shape.split(separator: ".").count == 2 ? ["hours", "holidays"] : nil) : (shape == "calendars" ? nil : allowedKeys[shape])
        }) {
            throw unknown
        }
        let raw = try file.decode(RawFile.self)
        typealias Path = [FieldPath.Component]
        func fail(_ path: Path, _ reason: String) -> ConfigurationFileError { file.error(at: path, reason) }
        func duration(_ text: String?, _ path: Path) throws(ConfigurationFileError) -> PolicyDuration? {
            guard let text else { return nil }
            if let problem = PolicyDuration.problem(with: text, longest: longestDuration) { throw fail(path, problem) }
            return PolicyDuration(text)
        }
        func zone(_ identifier: String, _ path: Path) throws(ConfigurationFileError) {
            guard TimeZone(identifier: identifier) != nil, TimeZone.knownTimeZoneIdentifiers.contains(identifier) || identifier == "UTC" else {
                throw fail(path, "must be an IANA time zone such as Asia/Shanghai or Europe/London")
            }
        }

        // Calendars.
        var calendars: [String: BusinessCalendar] = [:]
        for (name, calendar) in (raw.calendars ?? [:]).sorted(by: { $0.key < $1.key }) {
            let path: Path = [.key("calendars"), .key(name)]
            if name == BusinessCalendar.alwaysOpen.name { throw fail(path, "24x7 is built in and cannot be redefined") }
            var hours: [Weekday: [BusinessCalendar.Opening]] = [:]
            for (day, openings) in calendar.hours ?? [:] {
                guard let weekday = Weekday(rawValue: day) else {
                    throw fail(path + [.key("hours"), .key(day)], "must be one of mon, tue, wed, thu, fri, sat, sun")
                }
                for (index, text) in openings.enumerated() {
                    guard let opening = BusinessCalendar.Opening(text) else {
                        throw fail(path + [.key("hours"), .key(day), .index(index)], "must be opening hours such as 09:00-18:00, the end after the start")
                    }
                    // Overlapping hours would count their common time twice.
                    if let other = hours[weekday]?.first(where: { $0.start < opening.end && opening.start < $0.end }) {
                        throw fail(path + [.key("hours"), .key(day), .index(index)], "overlaps \(other): a day's opening hours must not overlap")
                    }
                    hours[weekday, default: []].append(opening)
                }
            }
            if hours.isEmpty { throw fail(path + [.key("hours")], "a calendar must be open at some time of the week") }
            var holidays: Set<LocalDate> = []
            for (index, text) in (calendar.holidays ?? []).enumerated() {
                guard let date = LocalDate(text) else {
                    throw fail(path + [.key("holidays"), .index(index)], "must be a date YYYY-MM-DD that exists")
                }
                holidays.insert(date)
            }
            calendars[name] = BusinessCalendar(name: name, hours: hours, holidays: holidays)
        }
        let calendarNames = Set(calendars.keys).union([BusinessCalendar.alwaysOpen.name])
        for (department, name) in raw.departmentCalendars ?? [:] where !calendarNames.contains(name) {
            throw fail([.key("departmentCalendars"), .key(department)],
                       "calendar \(name) does not exist (defined: \(calendarNames.sorted().joined(separator: ", ")))")
        }
        for (hotel, identifier) in raw.timeZones ?? [:] { try zone(identifier, [.key("timeZones"), .key(hotel)]) }
        if let identifier = raw.defaultTimeZone { try zone(identifier, [.key("defaultTimeZone")]) }

        // Rules.
        var rules: [PolicyRule] = []
        for (index, rawRule) in raw.policies.enumerated() {
            let path: Path = [.key("policies"), .index(index)]
            var rule = PolicyRule(name: rawRule.name ?? "policies[\(index)]", hotel: rawRule.hotel)
            if let text = rawRule.category {
                guard let category = ComplaintCategory(rawValue: text) else {
                    throw fail(path + [.key("category")], "must be one of " + ComplaintCategory.allCases.map(\.rawValue).joined(separator: ", "))
                }
                rule.category = category
            }
            if let text = rawRule.severity {
                guard let severity = Severity(rawValue: text) else {
                    throw fail(path + [.key("severity")], "must be one of " + Severity.allCases.map(\.rawValue).joined(separator: ", "))
                }
                rule.severity = severity
            }
            rule.response = try duration(rawRule.response, path + [.key("response")])
            rule.resolve = try duration(rawRule.resolve, path + [.key("resolve")])
            rule.followUp = try duration(rawRule.followUp, path + [.key("followUp")])
            rule.ceiling = try duration(rawRule.ceiling, path + [.key("ceiling")])
            for (key, value) in [("response", rule.response), ("resolve", rule.resolve), ("ceiling", rule.ceiling)] where value?.seconds == 0 {
                throw fail(path + [.key(key)], "must be longer than zero")
            }
            if let text = rawRule.warning {
                if text.hasPrefix("-") { throw fail(path + [.key("warning")], "must not be negative") }
                if !text.hasSuffix("%"), let problem = PolicyDuration.problem(with: text, longest: longestDuration),
                    problem != PolicyDuration.malformed
                {
                    throw fail(path + [.key("warning")], problem)
                }
                guard let warning = WarningPoint(text) else {
                    throw fail(path + [.key("warning")], "must be a share of the target such as 80% or a time such as 4m")
                }
                if case .percent(let percent) = warning, !(1...99).contains(percent) {
                    throw fail(path + [.key("warning")], "must come before the target: a share from 1% to 99%")
                }
                rule.warning = warning
            }
            if let steps = rawRule.escalation {
                var levels: Set<Int> = []
                rule.escalation = []
                for (stepIndex, step) in steps.enumerated() {
                    let stepPath = path + [.key("escalation"), .index(stepIndex)]
                    guard (1...3).contains(step.level) else { throw fail(stepPath + [.key("level")], "must be 1, 2 or 3") }
                    guard levels.insert(step.level).inserted else { throw fail(stepPath + [.key("level")], "level \(step.level) is listed twice") }
                    guard let trigger = EscalationStep.Trigger(rawValue: step.when) else {
                        throw fail(stepPath + [.key("when")], "must be one of response_breached, resolve_breached")
                    }
                    var role: EscalationRole?
                    if let text = step.to {
                        guard let value = EscalationRole(rawValue: text) else {
                            throw fail(stepPath + [.key("to")], "must be one of department_head, duty_manager, general_manager")
                        }
                        role = value
                    }
                    let after = try duration(step.after, stepPath + [.key("after")]) ?? PolicyDuration(seconds: 0)
                    rule.escalation?.append(EscalationStep(level: step.level, when: trigger, after: after, to: role))
                }
            }
            rules.append(rule)
        }

        // Business time ends within the ten years a deadline is looked for on every calendar in use.
        let calendarsInUse = Set((raw.departmentCalendars ?? [:]).values).sorted().compactMap { calendars[$0] }
        for (index, rule) in rules.enumerated() {
            var businessTimes = [("response", rule.response), ("resolve", rule.resolve)]
            if case .after(let offset) = rule.warning { businessTimes.append(("warning", offset)) }
            for (key, value) in businessTimes {
                guard let value else { continue }
                for calendar in calendarsInUse {
                    guard let longest = calendar.longestComputableDuration, value.timeInterval > longest else { continue }
                    let weekly = PolicyDuration(seconds: Int(calendar.weeklyOpenTime ?? 0))
                    throw fail([.key("policies"), .index(index), .key(key)],
                               "\(value) of business time is more than calendar \(calendar.name) (open \(weekly) a week) opens in five years: "
                                   + "too long to compute a deadline")
                }
            }
        }
        let policies = SLAPolicies(
            rules: rules, calendars: calendars, departmentCalendars: raw.departmentCalendars ?? [:], timeZones: raw.timeZones ?? [:],
            defaultTimeZone: raw.defaultTimeZone ?? "UTC")

        // Every complaint gets both targets, and its warning comes before each of them.
        let hotels = Set(rules.compactMap(\.hotel)).union(policies.timeZones.keys).sorted()
        for hotel in hotels + ["*"] {
            for category in ComplaintCategory.allCases {
                for severity in Severity.allCases {
                    let matching = policies.matching(hotel: hotel, category: category, severity: severity)
                    guard let policy = policies.policy(hotel: hotel, category: category, severity: severity) else {
                        let missing = matching.contains { $0.rule.response != nil } ? "resolve" : "response"
                        throw fail([.key("policies")], "no rule gives a \(missing) target for a \(severity.rawValue) \(category.rawValue) complaint"
                            + (hotel == "*" ? "" : " at \(hotel)"))
                    }
                    for target in [policy.response, policy.resolve] where !policy.warning.isBefore(target) {
                        let source = matching.last { $0.rule.warning != nil }?.index
                        throw fail(source.map { [.key("policies"), .index($0), .key("warning")] } ?? [.key("policies")],
                                   "the warning (\(policy.warning)) comes at or after the \(target) target of a \(severity.rawValue) \(category.rawValue) complaint"
                                       + (hotel == "*" ? "" : " at \(hotel)"))
                    }
                }
            }
        }
        return policies
    }
}
