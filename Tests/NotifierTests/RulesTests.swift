import ComplaintEvents
import ComplaintPipeline
import Foundation
import HotelTime
@testable import Notifier
import Testing

@Suite("Notification rules and planning")
struct RulesTests {
    static let yaml = """
        defaults: {language: en}
        hotels:
          SHA-PD01: {language: zh-CN, timeZone: Asia/Shanghai, quietHours: "22:00-08:00", staffEmail: "{staffId}@pd.example", robots: [wecom, ding]}
          LON-KX02: {language: en, timeZone: Europe/London}
        staff:
          SHA-PD01:
            SHA-EN-001: {email: chen.jie@pd.example, language: en}
        endpoints:
          wecom: {channel: wecom, url: "http://127.0.0.1:9/wecom"}
          ding: {channel: dingtalk, url: "http://127.0.0.1:9/ding?access_token=${DING_TOKEN}", secret: "${DING_SECRET:-}"}
          hook: {channel: webhook, url: "http://127.0.0.1:9/hook", secret: "${HOOK_SECRET}"}
          gateway: {channel: sms, url: "http://127.0.0.1:9/sms", body: '{"to":"{{to}}","text":"{{text}}"}', headers: {X-Api-Key: "${SMS_KEY:-k}"}}
        rules:
          - {name: guest-registered, on: [received], to: [guest], channels: [email, sms], template: complaint_received_guest}
          - {name: assignee-new, on: [assigned.initial], to: [assignee], template: complaint_assigned_staff}
          - {name: serious, on: [assigned.initial], severity: [serious], to: [robots, "endpoint:hook"], template: serious_complaint_staff}
          - {name: survey, on: [sla.followup_due], to: [guest], channels: [sms, email], template: followup_survey_guest, urgent: true}
        """
    static let environment = ["DING_TOKEN": "t0ken", "HOOK_SECRET": "whsec_test"]

    func planner(now: Date) throws -> NotificationPlanner {
        let rules = try NotifierFixtures.rules(Self.yaml, environment: Self.environment)
        var planner = NotificationPlanner(rules: LiveConfiguration(name: "rules", fixed: rules), templates: try NotifierFixtures.templates())
        planner.now = { now }
        return planner
    }

    @Test("the shipped rules file loads and every template it names exists")
    func shippedRules() throws {
        let file = try ConfigurationFile(contentsOf: NotifierFixtures.rulesFile)
        let rules = try RulesFile.load(file, environment: [:])
        try RulesFile.check(rules, against: try NotifierFixtures.templates(), in: file)
        #expect(rules.rules.count >= 8)
        #expect(rules.hotel("SHA-PD01").robots == ["pudong-wecom"])
        #expect(rules.guestMessages == NotificationRules.GuestMessageLimits(maximumPerComplaint: 8, minimumInterval: .seconds(3_600)))
        #expect(try NotifierFixtures.rules("rules: []").guestMessages == rules.guestMessages, "the file says what the default is")
    }

    @Test("secrets and tokens come from the environment; a missing one is named")
    func environmentReferences() throws {
        let rules = try NotifierFixtures.rules(Self.yaml, environment: Self.environment)
        #expect(rules.endpoints["ding"]?.url == "http://127.0.0.1:9/ding?access_token=t0ken")
        #expect(rules.endpoints["ding"]?.secret == nil)
        #expect(rules.endpoints["hook"]?.secret == "whsec_test")
        #expect(rules.endpoints["gateway"]?.headers == ["X-Api-Key": "k"])
        let error = #expect(throws: ConfigurationFileError.self) {
            _ = try NotifierFixtures.rules(Self.yaml, environment: ["DING_TOKEN": "t"])
        }
        #expect(error?.description == "rules.yaml:11: endpoints.hook.secret: needs the environment variable HOOK_SECRET, which is not set")
        // A token read from a file with its trailing newline: refused at start, and the value is not shown
        // (AsyncHTTPClient refused it on every SMS and quoted it into logs, last_error and receipts).
        let newline = #expect(throws: ConfigurationFileError.self) {
            _ = try NotifierFixtures.rules(Self.yaml, environment: Self.environment.merging(["SMS_KEY": "tok-9f2c\n"]) { $1 })
        }
        #expect(newline?.description.hasPrefix("rules.yaml:12: endpoints.gateway.headers.X-Api-Key: holds a control character") == true, "\(newline?.description ?? "")")
        #expect(newline?.description.contains("tok-9f2c") == false)
    }

    @Test("mistakes are refused with line and field", arguments: [
        ("rules: [{name: a, on: [sla.nope], to: [guest], template: t}]", "rules.yaml:1: rules[0].on[0]: is not a trigger"),
        ("rules: [{name: a, on: [received], to: [boss], template: t}]", "rules.yaml:1: rules[0].to[0]: must be guest, assignee, robots or endpoint:NAME"),
        ("rules: [{name: a, on: [received], to: [guest], channels: [sms], template: t}]", "rules.yaml:1: rules[0].channels[0]: sms needs an endpoint with channel: sms"),
        ("rules: [{name: a, on: [received], to: [guest], channels: [], template: t}]", "rules.yaml:1: rules[0].channels: must name at least one channel"),
        ("hotels:\n  X: {robots: [nowhere]}\nrules: []", "rules.yaml:2: hotels.X.robots[0]: names no endpoint 'nowhere'"),
        ("hotels:\n  X: {quietHours: \"late\"}\nrules: []", "rules.yaml:2: hotels.X.quietHours: must be a local window such as 22:00-08:00"),
        ("hotels:\n  X: {language: fr}\nrules: []", "rules.yaml:2: hotels.X.language: must be one of en, zh-CN (a template language)"),
        ("rules: []\nsurprise: 1", "rules.yaml:2: surprise: is not a known setting"),
        ("rules: [{name: \"Gäste\\r\\nBcc: x\", on: [received], to: [guest], template: t}]", "rules.yaml:1: rules[0].name: must be 1 to 64 lower-case letters"),
        ("endpoints:\n  g: {channel: sms, url: \"http://127.0.0.1:9/s\", body: '{{to}}{{text}}', headers: {\"X Key\": v}}\nrules: []", "rules.yaml:2: endpoints.g.headers.X Key: must be an HTTP header name"),
        ("hotels:\n  X: {}\nstaff:\n  Y:\n    DM-01: {email: dm@x.example}\nrules: []", "rules.yaml:4: staff.Y: names no hotel under hotels: 'Y'"),
        ("hotels:\n  X: {}\nstaff:\n  X:\n    DM-01: {hotel: X}\nrules: []", "rules.yaml:5: staff.X.DM-01.hotel: is not a known setting"),
        ("hotels:\n  SHA-PD01: {}\nrules: [{name: a, on: [received], hotel: [SHA-PD1], to: [guest], template: t}]", "rules.yaml:3: rules[0].hotel[0]: names no hotel under hotels: 'SHA-PD1'"),
        ("rules: [{name: a, on: [received], severity: [serious], to: [guest], template: t}]", "rules.yaml:1: rules[0].severity: can never match on received"),
        ("survey: {validFor: 999999999999999d}\nrules: []", "rules.yaml:1: survey.validFor: must be a duration from 1d to 366d"),
        ("survey: {validFor: 1h}\nrules: []", "rules.yaml:1: survey.validFor: must be a duration from 1d to 366d"),
        ("guestMessages: {maximumPerComplaint: 0}\nrules: []", "rules.yaml:1: guestMessages.maximumPerComplaint: must be 1 to 100"),
        ("guestMessages: {minimumInterval: 2w}\nrules: []", "rules.yaml:1: guestMessages.minimumInterval: must be a duration up to 30d"),
        ("guestMessages: {perDay: 2}\nrules: []", "rules.yaml:1: guestMessages.perDay: is not a known setting"),
        ("guestMessages: {maximumAge: 3w}\nrules: []", "rules.yaml:1: guestMessages.maximumAge: must be a duration up to 366d"),
    ])
    func refused(_ yaml: String, _ expected: String) {
        let error = #expect(throws: ConfigurationFileError.self) { _ = try NotifierFixtures.rules(yaml) }
        #expect(error?.description.hasPrefix(expected) == true, "\(error?.description ?? "no error")")
    }

    static let shanghaiNoon = ISO8601DateFormatter().date(from: "2026-12-02T04:00:00Z")!  // 12:00 in Shanghai
    static let shanghaiNight = ISO8601DateFormatter().date(from: "2026-12-02T15:30:00Z")!  // 23:30 in Shanghai

    func facts(severity: Severity = .serious, guestLanguage: String? = nil, preferred: ContactChannel? = nil) -> ComplaintFacts {
        var facts = ComplaintFacts(complaintID: UUID(), hotelID: "SHA-PD01")
        facts.severity = severity
        facts.category = .maintenance
        facts.guestLanguage = guestLanguage
        facts.preferredContact = preferred
        facts.assignee = Assignee(staffID: "SHA-EN-002", name: "王磊", role: .staff)
        return facts
    }

    @Test("an assignment tells the assignee by e-mail from the hotel's pattern, and a serious one the robots and the webhook")
    func assignment() throws {
        let planned = try planner(now: Self.shanghaiNoon).plan(
            .assigned(.initial), cause: (UUID(), Self.shanghaiNoon), facts: facts(), details: MessageFacts())
        #expect(planned.map(\.intent.recipientKey) == ["staff:SHA-EN-002", "endpoint:wecom", "endpoint:ding", "endpoint:hook"])
        #expect(planned[0].intent.staffAddress == "sha-en-002@pd.example")
        #expect(planned[0].intent.language == "zh-CN")
        #expect(planned[0].kind == .staff)
        #expect(planned.dropFirst().map(\.intent.channel) == [.wecom, .dingtalk, .webhook])
        #expect(planned.dropFirst().allSatisfy { $0.kind == .endpoint })
        #expect(Set(planned.map(\.intent.idempotencyKey)).count == 4)
        #expect(planned.allSatisfy { $0.dueAt == nil })

        let minor = try planner(now: Self.shanghaiNoon).plan(
            .assigned(.initial), cause: (UUID(), Self.shanghaiNoon), facts: facts(severity: .minor), details: MessageFacts())
        #expect(minor.map(\.intent.recipientKey) == ["staff:SHA-EN-002"])
    }

    @Test("a staff member's own language and address win over the hotel's")
    func staffDirectory() throws {
        var facts = facts()
        facts.assignee = Assignee(staffID: "SHA-EN-001", name: "Chen Jie", role: .staff)
        let planned = try planner(now: Self.shanghaiNoon).plan(.assigned(.initial), cause: (UUID(), Date()), facts: facts, details: MessageFacts())
        #expect(planned[0].intent.staffAddress == "chen.jie@pd.example")
        #expect(planned[0].intent.language == "en")
    }

    @Test("staff ids are per hotel: another hotel's DM-01 gets its own hotel's address, not this directory entry")
    func staffDirectoryPerHotel() throws {
        var facts = facts()
        facts.hotelID = "LON-KX02"
        facts.assignee = Assignee(staffID: "SHA-EN-001", name: "Sam Hill", role: .staff)
        let planned = try planner(now: Self.shanghaiNoon).plan(.assigned(.initial), cause: (UUID(), Date()), facts: facts, details: MessageFacts())
        #expect(planned.first?.intent.staffAddress == nil, "London has no e-mail pattern and the entry is Shanghai's")
    }

    @Test("a guest who asked not to be contacted is planned no message; language tags match in any case")
    func guestPreferences() throws {
        let planner = try planner(now: Self.shanghaiNoon)
        #expect(planner.plan(.received, cause: (UUID(), Date()), facts: facts(preferred: ContactChannel.none), details: MessageFacts()).isEmpty)
        let shouting = planner.plan(.received, cause: (UUID(), Date()), facts: facts(guestLanguage: "EN-us"), details: MessageFacts())
        #expect(shouting.first?.intent.language == "en")
        let chinese = planner.plan(.received, cause: (UUID(), Date()), facts: facts(guestLanguage: "ZH-hans-CN"), details: MessageFacts())
        #expect(chinese.first?.intent.language == "zh-CN")
    }

    @Test("the guest's language picks the template, falling back to the hotel's; their preferred contact goes first")
    func guestLanguageAndChannel() throws {
        let planner = try planner(now: Self.shanghaiNoon)
        let english = planner.plan(.received, cause: (UUID(), Date()), facts: facts(guestLanguage: "en-GB", preferred: .sms), details: MessageFacts())
        #expect(english.count == 1)
        #expect(english[0].intent.language == "en")
        #expect(english[0].intent.guestChannels == [.sms, .email])
        #expect(english[0].intent.recipient.kind == .guest)
        let french = planner.plan(.received, cause: (UUID(), Date()), facts: facts(guestLanguage: "fr"), details: MessageFacts())
        #expect(french[0].intent.language == "zh-CN", "the hotel's language when the guest's has no template")
        #expect(french[0].intent.guestChannels == [.email, .sms])
    }

    @Test("quiet hours hold a non-urgent guest message until the window ends, in the hotel's zone; urgent ones and staff go now")
    func quietHours() throws {
        let planner = try planner(now: Self.shanghaiNight)
        let held = planner.plan(.received, cause: (UUID(), Date()), facts: facts(), details: MessageFacts())
        #expect(held[0].dueAt == ISO8601DateFormatter().date(from: "2026-12-03T00:00:00Z"), "08:00 the next morning in Shanghai")
        let urgent = planner.plan(.sla(.followUpDue), cause: (UUID(), Date()), facts: facts(), details: MessageFacts())
        #expect(urgent[0].dueAt == nil)
        let staff = planner.plan(.assigned(.initial), cause: (UUID(), Date()), facts: facts(), details: MessageFacts())
        #expect(staff.allSatisfy { $0.dueAt == nil })
        let day = try self.planner(now: Self.shanghaiNoon).plan(.received, cause: (UUID(), Date()), facts: facts(), details: MessageFacts())
        #expect(day[0].dueAt == nil)
    }

    @Test("quiet hours across midnight and within a day")
    func quietWindow() throws {
        let zone = TimeZone(identifier: "Europe/London")!
        let overnight = QuietHours(start: LocalTime(hour: 21, minute: 30), end: LocalTime(hour: 8, minute: 0))
        let formatter = ISO8601DateFormatter()
        #expect(overnight.release(for: formatter.date(from: "2026-12-02T21:29:00Z")!, in: zone) == nil)
        #expect(overnight.release(for: formatter.date(from: "2026-12-02T21:30:00Z")!, in: zone) == formatter.date(from: "2026-12-03T08:00:00Z"))
        #expect(overnight.release(for: formatter.date(from: "2026-12-03T07:59:00Z")!, in: zone) == formatter.date(from: "2026-12-03T08:00:00Z"))
        #expect(overnight.release(for: formatter.date(from: "2026-12-03T08:00:00Z")!, in: zone) == nil)
        let afternoon = QuietHours(start: LocalTime(hour: 13, minute: 0), end: LocalTime(hour: 14, minute: 0))
        #expect(afternoon.release(for: formatter.date(from: "2026-06-02T12:30:00Z")!, in: zone) == formatter.date(from: "2026-06-02T13:00:00Z"), "BST")
    }

    @Test("one cause, rule and recipient always make the same key and notification id")
    func stableKeys() throws {
        let cause = (UUID(), Date())
        let facts = facts()
        let planner = try planner(now: Self.shanghaiNoon)
        let first = planner.plan(.assigned(.initial), cause: cause, facts: facts, details: MessageFacts())
        let again = planner.plan(.assigned(.initial), cause: cause, facts: facts, details: MessageFacts())
        #expect(first.map(\.intent.idempotencyKey) == again.map(\.intent.idempotencyKey))
        #expect(first.map(\.intent.notificationID) == again.map(\.intent.notificationID))
    }
}
