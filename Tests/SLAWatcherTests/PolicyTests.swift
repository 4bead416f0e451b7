import ComplaintEvents
import ComplaintPipeline
import ComplaintTesting
import Foundation
import HotelTime
import Logging
import SLAWatcher
import Testing

@Suite("SLA policies")
struct PolicyTests {
    static var shippedPath: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(PolicyFile.defaultPath).path
    }

    @Test("the shipped file gives the group's default targets (5/60, 15/240, 30/1440 min), 80% warnings, 24 h follow-up, 72 h ceiling")
    func shipped() throws {
        let policies = try PolicyFile.load(contentsOf: Self.shippedPath)
        let targets: [(Severity, Int, Int)] = [(.serious, 5, 60), (.moderate, 15, 240), (.minor, 30, 1440)]
        for (severity, response, resolve) in targets {
            let policy = try #require(policies.policy(hotel: "SHA-PD01", category: .cleanliness, severity: severity))
            #expect(policy.response == .minutes(response))
            #expect(policy.resolve == .minutes(resolve))
            #expect(policy.warning == .percent(80))
            #expect(policy.followUp == .hours(24))
            #expect(policy.ceiling == .hours(72))
            #expect(policy.escalation.map(\.level) == [1, 2, 3])
        }
        #expect(policies.calendar(forDepartment: "finance").name == "office")
        #expect(policies.calendar(forDepartment: "housekeeping").isAlwaysOpen)
        #expect(policies.timeZone(ofHotel: "LON-KX02").identifier == "Europe/London")
        #expect(policies.timeZone(ofHotel: "NOWHERE").secondsFromGMT() == 0)
    }

    @Test("a complaint of a hotel without a time zone of its own, on a calendar with opening hours, logs a warning naming the hotel, the zone used and the setting, once per hotel; on 24x7 nothing")
    func hotelWithoutTimeZone() {
        let logs = CapturedLogs()
        let office = BusinessCalendar(name: "office", hours: [.mon: [BusinessCalendar.Opening("09:00-18:00")!]])
        var clockwork = Clockwork(policies: SLAPolicies(
            rules: [PolicyRule(name: "all", response: .minutes(15), resolve: .hours(4))], calendars: ["office": office],
            departmentCalendars: ["finance": "office"], timeZones: ["LON-KX02": "Europe/London"], defaultTimeZone: "Asia/Shanghai"))
        clockwork.logger = Logger(label: "test") { _ in logs }
        // MIA-BB07 has only round-the-clock complaints: its zone changes no deadline.
        for (hotel, department) in [
            ("MIA-BB07", "housekeeping"), ("NYC-TS01", "finance"), ("LON-KX02", "finance"), ("NYC-TS01", "finance"), ("PAR-OP03", "housekeeping"),
            ("PAR-OP03", "finance"),
        ] {
            var record = ClockRecord(complaintID: UUID(), hotelID: hotel)
            record.department = department
            _ = clockwork.arithmetic(for: record)
        }
        // Copies of the clockwork (each handler and the sweep hold one) share what was warned about.
        let copy = clockwork
        var again = ClockRecord(complaintID: UUID(), hotelID: "PAR-OP03")
        again.department = "finance"
        #expect(copy.arithmetic(for: again).timeZone.identifier == "Asia/Shanghai")
        let warnings = logs.entries.filter { $0.level == .warning }
        #expect(warnings.map { $0.metadata["sla.hotel"] } == ["NYC-TS01", "PAR-OP03"], "\(warnings.map(\.message))")
        #expect(warnings.allSatisfy { $0.metadata["sla.time_zone"] == "Asia/Shanghai" })
        #expect(warnings.first?.metadata["sla.setting"] == "timeZones.NYC-TS01")
        #expect(warnings.first?.message.contains("defaultTimeZone") == true)
    }

    @Test("most specific wins, field by field: hotel, then category, then severity")
    func precedence() throws {
        let policies = SLAPolicies(rules: [
            PolicyRule(name: "default", response: .minutes(30), resolve: .hours(24), followUp: .hours(24)),
            PolicyRule(name: "serious", severity: .serious, response: .minutes(5), resolve: .hours(1)),
            PolicyRule(name: "billing", category: .billing, resolve: .hours(48)),
            PolicyRule(name: "billing serious", category: .billing, severity: .serious, resolve: .hours(8)),
            PolicyRule(name: "London", hotel: "LON-KX02", response: .minutes(20)),
            PolicyRule(name: "London billing", hotel: "LON-KX02", category: .billing, resolve: .hours(16), followUp: .hours(48)),
        ])
        let plain = try #require(policies.policy(hotel: "SHA-PD01", category: .noise, severity: .minor))
        #expect((plain.response, plain.resolve) == (.minutes(30), .hours(24)))
        let serious = try #require(policies.policy(hotel: "SHA-PD01", category: .noise, severity: .serious))
        #expect((serious.response, serious.resolve) == (.minutes(5), .hours(1)))
        // Category beats severity: a serious billing complaint takes billing's 48 h unless a rule names both.
        let billing = try #require(policies.policy(hotel: "SHA-PD01", category: .billing, severity: .moderate))
        #expect(billing.resolve == .hours(48))
        let billingSerious = try #require(policies.policy(hotel: "SHA-PD01", category: .billing, severity: .serious))
        #expect((billingSerious.response, billingSerious.resolve) == (.minutes(5), .hours(8)))
        #expect(billingSerious.rules == ["default", "serious", "billing", "billing serious"])
        // The hotel beats everything, field by field.
        let london = try #require(policies.policy(hotel: "LON-KX02", category: .billing, severity: .serious))
        #expect((london.response, london.resolve, london.followUp) == (.minutes(20), .hours(16), .hours(48)))
        #expect(london.rules.last == "London billing")
    }

    static let valid = """
        timeZones:
          SHA-PD01: Asia/Shanghai
        calendars:
          office:
            hours:
              mon: ["09:00-18:00"]
            holidays: ["2027-01-01"]
        departmentCalendars:
          finance: office
        policies:
          - name: default
            response: 15m
            resolve: 4h
            warning: 80%
          - name: serious
            severity: serious
            response: 5m
            resolve: 1h
        """

    @Test("the valid example loads")
    func validExample() throws {
        let policies = try PolicyFile.load(ConfigurationFile(text: Self.valid, path: "p.yaml"))
        #expect(policies.policy(hotel: "X", category: .other, severity: .serious)?.resolve == .hours(1))
    }

    struct Broken: Sendable, CustomTestStringConvertible {
        var replace: String
        var with: String
        var message: String
        var testDescription: String { message }
    }

    static let broken: [Broken] = [
        Broken(replace: "severity: serious", with: "severity: critical",
               message: "p.yaml:16: policies[1].severity: must be one of minor, moderate, serious"),
        Broken(replace: "warning: 80%", with: "warning: 120%",
               message: "p.yaml:14: policies[0].warning: must come before the target: a share from 1% to 99%"),
        Broken(replace: "warning: 80%", with: "warning: 10m",
               message: "p.yaml:14: policies[0].warning: the warning (10m) comes at or after the 5m target of a serious cleanliness complaint at SHA-PD01"),
        Broken(replace: "resolve: 4h", with: "resolve: -4h", message: "p.yaml:13: policies[0].resolve: must not be negative"),
        Broken(replace: "resolve: 4h", with: "resolve: 4 hours",
               message: "p.yaml:13: policies[0].resolve: must be a duration such as 5m, 4h, 1h30m, 90s or 2d"),
        Broken(replace: "finance: office", with: "finance: back_office",
               message: "p.yaml:9: departmentCalendars.finance: calendar back_office does not exist (defined: 24x7, office)"),
        Broken(replace: "SHA-PD01: Asia/Shanghai", with: "SHA-PD01: Asia/Shanghia",
               message: "p.yaml:2: timeZones.SHA-PD01: must be an IANA time zone such as Asia/Shanghai or Europe/London"),
        Broken(replace: "mon: [\"09:00-18:00\"]", with: "mon: [\"18:00-09:00\"]",
               message: "p.yaml:6: calendars.office.hours.mon[0]: must be opening hours such as 09:00-18:00, the end after the start"),
        Broken(replace: "holidays: [\"2027-01-01\"]", with: "holidays: [\"2027-02-30\"]",
               message: "p.yaml:7: calendars.office.holidays[0]: must be a date YYYY-MM-DD that exists"),
        Broken(replace: "    response: 15m\n", with: "",
               message: "p.yaml:10: policies: no rule gives a response target for a minor cleanliness complaint at SHA-PD01"),
        Broken(replace: "mon: [\"09:00-18:00\"]", with: "mon: [\"09:00-13:00\", \"12:00-18:00\"]",
               message: "p.yaml:6: calendars.office.hours.mon[1]: overlaps 09:00-13:00: a day's opening hours must not overlap"),
        Broken(replace: "resolve: 4h", with: "resolve: 999999999999999d", message: "p.yaml:13: policies[0].resolve: must be at most 365d"),
        Broken(replace: "resolve: 4h", with: "resolve: 99999999999999999999s", message: "p.yaml:13: policies[0].resolve: must be at most 365d"),
        Broken(replace: "warning: 80%", with: "warning: 999999999999999d", message: "p.yaml:14: policies[0].warning: must be at most 365d"),
        // Finance's office opens 9 hours a week: a year of business time would end 18 years later, beyond what a deadline is looked for.
        Broken(replace: "resolve: 4h", with: "resolve: 365d",
               message: "p.yaml:13: policies[0].resolve: 365d of business time is more than calendar office (open 9h a week) opens in five years: too long to compute a deadline"),
        Broken(replace: "    warning: 80%", with: "    warning: 80%\n    warnng: 70%",
               message: "p.yaml:15: policies[0].warnng: is not a known setting (expected one of category, ceiling, escalation, followUp, hotel, name, resolve, response, severity, warning)"),
    ]

    @Test("a broken file names the line and the field", arguments: broken)
    func errors(_ broken: Broken) throws {
        #expect(Self.valid.contains(broken.replace))
        let text = Self.valid.replacingOccurrences(of: broken.replace, with: broken.with)
        do {
            _ = try PolicyFile.load(ConfigurationFile(text: text, path: "p.yaml"))
            Issue.record("loaded a broken file")
        } catch {
            #expect(error.description == broken.message)
        }
    }

    @Test("a duration too long to count in seconds is refused, never trapped on")
    func durationOverflow() {
        for text in ["999999999999999d", "99999999999999999999s", "106751991167301d", "106751991167300d16h"] {
            #expect(PolicyDuration(text) == nil, "\(text)")
            #expect(PolicyDuration.problem(with: text) == "is too long", "\(text)")
            #expect(PolicyDuration.problem(with: text, longest: .days(365)) == "must be at most 365d", "\(text)")
        }
        #expect(PolicyDuration("365d") == .days(365))
        #expect(PolicyDuration.problem(with: "365d", longest: .days(365)) == nil)
        #expect(PolicyDuration.problem(with: "365d1s", longest: .days(365)) == "must be at most 365d")
    }

    @Test("the longest target the policy file allows has a deadline on the shipped office calendar")
    func longestOnOffice() throws {
        let policies = try PolicyFile.load(contentsOf: Self.shippedPath)
        let office = policies.calendar(forDepartment: "finance")
        let longest = try #require(office.longestComputableDuration)
        #expect(longest >= PolicyFile.longestDuration.timeInterval)
        let start = Date(timeIntervalSince1970: 1_798_761_600)  // 2027-01-01, a holiday
        #expect(office.deadline(from: start, adding: PolicyFile.longestDuration.timeInterval, in: policies.timeZone(ofHotel: "LON-KX02")) != nil)
    }
}
