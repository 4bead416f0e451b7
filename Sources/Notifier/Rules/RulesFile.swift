import ComplaintEvents
import ComplaintPipeline
import Foundation
import HotelTime

/// Reads `services/notifier/rules.yaml` into ``NotificationRules``, refusing a file with any problem — an
/// unknown trigger, channel or language, an endpoint a rule names that does not exist, a secret whose
/// environment variable is not set — with `file:line: field: reason`.
///
/// Endpoint `url`, `secret` and header values may name environment variables as `${NAME}` (required) or
/// `${NAME:-default}`, so tokens and secrets stay out of the repository.
public enum RulesFile {
    /// The shipped file, relative to the Redress home.
    public static let defaultPath = "services/notifier/rules.yaml"

    static let allowedKeys: [String: Set<String>] = [
        "": ["defaults", "guestMessages", "links", "survey", "hotels", "staff", "endpoints", "rules"],
        "guestMessages": ["maximumPerComplaint", "minimumInterval", "maximumAge"],
        "defaults": ["language", "timeZone", "maximumAttempts"],
        "links": ["complaint", "survey"],
        "survey": ["validFor"],
        "rules": ["name", "on", "severity", "hotel", "category", "to", "channels", "template", "urgent"],
    ]
    static let hotelKeys: Set<String> = ["name", "language", "timeZone", "quietHours", "staffEmail", "robots"]
    static let staffKeys: Set<String> = ["email", "phone", "language"]
    static let endpointKeys: Set<String> = ["channel", "url", "secret", "headers", "body", "timeoutSeconds", "rateLimit"]
    /// The languages templates exist for; a file naming another is refused.
    public static let languages: Set<String> = ["en", "zh-CN"]

    struct RawFile: Decodable {
        var defaults: RawDefaults?
        var guestMessages: RawGuestMessages?
        var links: RawLinks?
        var survey: RawSurvey?
        var hotels: [String: RawHotel]?
        /// By hotel, then staff id (ids are unique within a hotel only).
        var staff: [String: [String: RawStaff]]?
        var endpoints: [String: RawEndpoint]?
        var rules: [RawRule]
    }
    struct RawDefaults: Decodable { var language: String?; var timeZone: String?; var maximumAttempts: Int? }
    struct RawGuestMessages: Decodable { var maximumPerComplaint: Int?; var minimumInterval: String?; var maximumAge: String? }
    struct RawLinks: Decodable { var complaint: String?; var survey: String? }
    struct RawSurvey: Decodable { var validFor: String? }
    struct RawHotel: Decodable {
        var name: String?
        var language: String?
        var timeZone: String?
        var quietHours: String?
        var staffEmail: String?
        var robots: [String]?
    }
    struct RawStaff: Decodable { var email: String?; var phone: String?; var language: String? }
    struct RawEndpoint: Decodable {
        var channel: String
        var url: String
        var secret: String?
        var headers: [String: String]?
        var body: String?
        var timeoutSeconds: Double?
        var rateLimit: String?
    }
    struct RawRule: Decodable {
        var name: String
        var on: [String]
        var severity: [String]?
        var hotel: [String]?
        var category: [String]?
        var to: [String]
        var channels: [String]?
        var template: String
        var urgent: Bool?
    }

    /// Channels an endpoint may use (people's channels, e-mail and SMS to a person, come from the rule).
    static let endpointChannels: Set<DeliveryChannel> = [.webhook, .slack, .teams, .wecom, .dingtalk, .feishu, .sms]
    /// Channels a rule may list for a person.
    static let personChannels: Set<DeliveryChannel> = [.email, .sms]

    /// Loads and checks the file at `path`.
    public static func load(contentsOf path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigurationFileError) -> NotificationRules {
        try load(try ConfigurationFile(contentsOf: path), environment: environment)
    }

    /// Loads and checks `file`, expanding `${NAME}` from `environment`.
    public static func load(_ file: ConfigurationFile, environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigurationFileError) -> NotificationRules {
        if let unknown = file.unknownKeys(allowed: { shape in
            let parts = shape.split(separator: ".")
            if parts.first == "hotels" { return parts.count == 1 ? nil : (parts.count == 2 ? hotelKeys : nil) }
            if parts.first == "staff" { return parts.count == 3 ? staffKeys : nil }
            if parts.first == "endpoints" { return parts.count == 1 ? nil : (parts.count == 2 ? endpointKeys : nil) }
            return allowedKeys[shape]
        }) {
            throw unknown
        }
        let raw = try file.decode(RawFile.self)
        typealias Path = [FieldPath.Component]
        func fail(_ path: Path, _ reason: String) -> ConfigurationFileError { file.error(at: path, reason) }
        func language(_ text: String, _ path: Path) throws(ConfigurationFileError) -> String {
            guard languages.contains(text) else { throw fail(path, "must be one of \(languages.sorted().joined(separator: ", ")) (a template language)") }
            return text
        }
        func zone(_ text: String, _ path: Path) throws(ConfigurationFileError) -> TimeZone {
            guard let zone = TimeZone(identifier: text), TimeZone.knownTimeZoneIdentifiers.contains(text) || text == "UTC" else {
                throw fail(path, "must be an IANA time zone such as Asia/Shanghai or Europe/London")
            }
            return zone
        }
        func expand(_ text: String, _ path: Path) throws(ConfigurationFileError) -> String {
            do throws(EnvironmentReference.Missing) {
                return try EnvironmentReference.expand(text, environment: environment)
            } catch {
                throw fail(path, "needs the environment variable \(error.name), which is not set")
            }
        }

        var defaultHotel = NotificationRules.HotelSettings()
        if let defaults = raw.defaults {
            if let text = defaults.language { defaultHotel.language = try language(text, [.key("defaults"), .key("language")]) }
            if let text = defaults.timeZone { defaultHotel.timeZone = try zone(text, [.key("defaults"), .key("timeZone")]) }
        }
        let maximumAttempts = raw.defaults?.maximumAttempts ?? 30
        guard (1...100).contains(maximumAttempts) else { throw fail([.key("defaults"), .key("maximumAttempts")], "must be 1 to 100") }
        var guestMessages = NotificationRules.GuestMessageLimits()
        if let maximum = raw.guestMessages?.maximumPerComplaint {
            guard (1...100).contains(maximum) else { throw fail([.key("guestMessages"), .key("maximumPerComplaint")], "must be 1 to 100") }
            guestMessages.maximumPerComplaint = maximum
        }
        if let text = raw.guestMessages?.minimumInterval {
            guard let seconds = parseDuration(text), seconds <= 30 * 86_400 else {
                throw fail([.key("guestMessages"), .key("minimumInterval")], "must be a duration up to 30d such as 24h or 90m (0s: no interval)")
            }
            guestMessages.minimumInterval = .seconds(seconds)
        }
        if let text = raw.guestMessages?.maximumAge {
            guard let seconds = parseDuration(text), seconds <= 366 * 86_400 else {
                throw fail([.key("guestMessages"), .key("maximumAge")], "must be a duration up to 366d such as 72h or 7d (0s: no limit)")
            }
            guestMessages.maximumAge = .seconds(seconds)
        }

        var links = NotificationRules.Links()
        if let text = raw.links?.complaint {
            let complaint = try expand(text, [.key("links"), .key("complaint")])
            guard complaint.contains("{complaintId}") else { throw fail([.key("links"), .key("complaint")], "must contain {complaintId}") }
            links.complaint = complaint
        }
        if let text = raw.links?.survey {
            let survey = try expand(text, [.key("links"), .key("survey")])
            guard survey.contains("{token}") else { throw fail([.key("links"), .key("survey")], "must contain {token}") }
            links.survey = survey
        }
        var surveyValidity: Duration = .seconds(7 * 86_400)
        if let text = raw.survey?.validFor {
            // Quiet hours may hold a survey message up to a day: a shorter link could expire before it arrives.
            guard let seconds = parseDuration(text), seconds >= 86_400, seconds <= 366 * 86_400 else {
                throw fail([.key("survey"), .key("validFor")], "must be a duration from 1d to 366d such as 7d or 48h (quiet hours may hold the message for hours)")
            }
            surveyValidity = .seconds(seconds)
        }

        // Endpoints.
        var endpoints: [String: Endpoint] = [:]
        for (name, endpoint) in raw.endpoints ?? [:] {
            let path: Path = [.key("endpoints"), .key(name)]
            guard let channel = DeliveryChannel(rawValue: endpoint.channel), endpointChannels.contains(channel) else {
                throw fail(path + [.key("channel")], "must be one of \(endpointChannels.map(\.rawValue).sorted().joined(separator: ", "))")
            }
            let url = try expand(endpoint.url, path + [.key("url")])
            guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil else {
                throw fail(path + [.key("url")], "must be an http or https URL")
            }
            let secret = try endpoint.secret.map { text throws(ConfigurationFileError) in try expand(text, path + [.key("secret")]) }
            if channel == .webhook && (secret ?? "").isEmpty {
                throw fail(path + [.key("secret")], "is required for a webhook (receivers verify the signature with it)")
            }
            var headers: [String: String] = [:]
            for (header, value) in endpoint.headers ?? [:] {
                guard !header.isEmpty, header.unicodeScalars.allSatisfy(Self.isTokenCharacter) else {
                    throw fail(path + [.key("headers"), .key(header)], "must be an HTTP header name (letters, digits and !#$%&'*+-.^_`|~)")
                }
                let expanded = try expand(value, path + [.key("headers"), .key(header)])
                // Not quoted: the value is usually a secret (a token from a file whose trailing newline came along).
                guard !expanded.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\t" || $0.value == 0x7F }) else {
                    throw fail(path + [.key("headers"), .key(header)], "holds a control character, e.g. a trailing newline from a secret file (the value is not shown)")
                }
                headers[header] = expanded
            }
            if channel == .sms {
                guard let body = endpoint.body, body.contains("{{to}}"), body.contains("{{text}}") else {
                    throw fail(path + [.key("body")], "an sms gateway needs a body template containing {{to}} and {{text}}")
                }
            } else if endpoint.body != nil {
                throw fail(path + [.key("body")], "only an sms gateway takes a body template")
            }
            let timeout = endpoint.timeoutSeconds ?? 10
            guard (0.1...120).contains(timeout) else { throw fail(path + [.key("timeoutSeconds")], "must be 0.1 to 120 seconds") }
            var rateLimit: RateLimit?? = nil  // the channel's default
            if let text = endpoint.rateLimit {
                guard let parsed = parseRateLimit(text) else {
                    throw fail(path + [.key("rateLimit")], "must be calls per time such as 20/min, 1/s or 100/10m, or none")
                }
                rateLimit = .some(parsed)
            }
            endpoints[name] = Endpoint(
                name: name, channel: channel, url: url, secret: secret.flatMap { $0.isEmpty ? nil : $0 }, headers: headers, body: endpoint.body,
                timeout: .milliseconds(Int64(timeout * 1000)), rateLimit: rateLimit)
        }

        // Hotels.
        var hotels: [String: NotificationRules.HotelSettings] = [:]
        for (id, hotel) in raw.hotels ?? [:] {
            let path: Path = [.key("hotels"), .key(id)]
            var settings = defaultHotel
            settings.name = hotel.name
            if let text = hotel.language { settings.language = try language(text, path + [.key("language")]) }
            if let text = hotel.timeZone { settings.timeZone = try zone(text, path + [.key("timeZone")]) }
            if let text = hotel.quietHours {
                let parts = text.split(separator: "-").map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2, let start = LocalTime(parts[0]), let end = LocalTime(parts[1]), start != end else {
                    throw fail(path + [.key("quietHours")], "must be a local window such as 22:00-08:00")
                }
                settings.quietHours = QuietHours(start: start, end: end)
            }
            if let pattern = hotel.staffEmail {
                guard pattern.contains("{staffId}"), pattern.contains("@") else {
                    throw fail(path + [.key("staffEmail")], "must be an address pattern containing {staffId}, such as {staffId}@pudong.example.com")
                }
                settings.staffEmail = pattern
            }
            for (index, robot) in (hotel.robots ?? []).enumerated() {
                guard let endpoint = endpoints[robot] else { throw fail(path + [.key("robots"), .index(index)], "names no endpoint '\(robot)'") }
                guard endpoint.channel != .sms else { throw fail(path + [.key("robots"), .index(index)], "'\(robot)' is an sms gateway, not a robot") }
            }
            settings.robots = hotel.robots ?? []
            hotels[id] = settings
        }

        var staff: [String: NotificationRules.StaffContact] = [:]
        // Staff ids are unique within a hotel only (assignment's organisation): the directory is by hotel.
        for (hotel, people) in raw.staff ?? [:] {
            guard hotels[hotel] != nil else { throw fail([.key("staff"), .key(hotel)], "names no hotel under hotels: '\(hotel)'") }
            for (id, entry) in people {
                let path: Path = [.key("staff"), .key(hotel), .key(id)]
                if let email = entry.email, !email.contains("@") { throw fail(path + [.key("email")], "must be an e-mail address") }
                if let phone = entry.phone, !(phone.hasPrefix("+") && phone.dropFirst().allSatisfy(\.isNumber)) {
                    throw fail(path + [.key("phone")], "must be an E.164 number such as +8613800138000")
                }
                let staffLanguage = try entry.language.map { text throws(ConfigurationFileError) in try language(text, path + [.key("language")]) }
                staff[NotificationRules.staffKey(hotel: hotel, staffID: id)] = NotificationRules.StaffContact(
                    email: entry.email, phone: entry.phone, language: staffLanguage)
            }
        }

        // Rules.
        var rules: [NotificationRules.Rule] = []
        var names: Set<String> = []
        let smsGateway = endpoints.values.contains { $0.channel == .sms }
        for (index, rawRule) in raw.rules.enumerated() {
            let path: Path = [.key("rules"), .index(index)]
            // The name goes into every message's idempotency key, an e-mail header and an HTTP header.
            guard rawRule.name.wholeMatch(of: /[a-z0-9][a-z0-9._-]{0,63}/) != nil else {
                throw fail(path + [.key("name")], "must be 1 to 64 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit")
            }
            guard names.insert(rawRule.name).inserted else { throw fail(path + [.key("name")], "must be unique") }
            var triggers: Set<NotificationTrigger> = []
            for (position, name) in rawRule.on.enumerated() {
                let trigger = NotificationTrigger(name)
                guard NotificationTrigger.all.contains(trigger) else {
                    throw fail(path + [.key("on"), .index(position)], "is not a trigger (one of \(NotificationTrigger.all.sorted().map(\.name).joined(separator: ", ")))")
                }
                triggers.insert(trigger)
            }
            guard !triggers.isEmpty else { throw fail(path + [.key("on")], "must name at least one trigger") }
            for (position, hotel) in (rawRule.hotel ?? []).enumerated() where hotels[hotel] == nil {
                // A misspelt hotel would make the rule silently never fire.
                throw fail(path + [.key("hotel"), .index(position)], "names no hotel under hotels: '\(hotel)'")
            }
            if rawRule.severity != nil || rawRule.category != nil, triggers == [NotificationTrigger("received")] {
                // Nothing is classified at registration: the filter could never match.
                throw fail(path + [.key(rawRule.severity != nil ? "severity" : "category")], "can never match on received: a complaint is classified after it")
            }
            var severities: Set<Severity> = []
            for (position, text) in (rawRule.severity ?? []).enumerated() {
                guard let severity = Severity(rawValue: text) else { throw fail(path + [.key("severity"), .index(position)], "must be minor, moderate or serious") }
                severities.insert(severity)
            }
            var categories: Set<ComplaintCategory> = []
            for (position, text) in (rawRule.category ?? []).enumerated() {
                guard let category = ComplaintCategory(rawValue: text) else {
                    throw fail(path + [.key("category"), .index(position)], "is not a category (\(ComplaintCategory.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                categories.insert(category)
            }
            var recipients: [NotificationRules.RecipientSelector] = []
            for (position, text) in rawRule.to.enumerated() {
                switch text {
                case "guest": recipients.append(.guest)
                case "assignee": recipients.append(.assignee)
                case "robots": recipients.append(.robots)
                case _ where text.hasPrefix("endpoint:"):
                    let name = String(text.dropFirst("endpoint:".count))
                    guard let endpoint = endpoints[name], endpoint.channel != .sms else {
                        throw fail(path + [.key("to"), .index(position)], "names no webhook or robot endpoint '\(name)'")
                    }
                    recipients.append(.endpoint(name))
                default:
                    throw fail(path + [.key("to"), .index(position)], "must be guest, assignee, robots or endpoint:NAME")
                }
            }
            guard !recipients.isEmpty else { throw fail(path + [.key("to")], "must name at least one recipient") }
            var channels: [DeliveryChannel] = []
            for (position, text) in (rawRule.channels ?? ["email"]).enumerated() {
                guard let channel = DeliveryChannel(rawValue: text), personChannels.contains(channel) else {
                    throw fail(path + [.key("channels"), .index(position)], "must be email or sms (robots and webhooks are endpoints)")
                }
                if channel == .sms && !smsGateway { throw fail(path + [.key("channels"), .index(position)], "sms needs an endpoint with channel: sms") }
                channels.append(channel)
            }
            // An empty list would leave a person's notification with no channel to go by.
            guard !channels.isEmpty else { throw fail(path + [.key("channels")], "must name at least one channel (email, sms)") }
            guard !rawRule.template.isEmpty, rawRule.template.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                throw fail(path + [.key("template")], "must be a template name such as complaint_received_guest")
            }
            rules.append(NotificationRules.Rule(
                name: rawRule.name, triggers: triggers, severities: severities, hotels: Set(rawRule.hotel ?? []), categories: categories,
                recipients: recipients, channels: channels, template: rawRule.template, urgent: rawRule.urgent ?? false))
        }
        return NotificationRules(
            hotels: hotels, defaultHotel: defaultHotel, endpoints: endpoints, staff: staff, rules: rules, links: links,
            surveyValidity: surveyValidity, maximumAttempts: maximumAttempts, guestMessages: guestMessages)
    }

    /// Refuses rules whose template does not exist in any language of `templates`.
    public static func check(_ rules: NotificationRules, against templates: TemplateCatalog, in file: ConfigurationFile) throws(ConfigurationFileError) {
        for (index, rule) in rules.rules.enumerated() where templates.languages(of: rule.template).isEmpty {
            throw file.error(at: [.key("rules"), .index(index), .key("template")], "has no file \(rule.template).yaml in the templates folder")
        }
    }

    /// `20/min`, `1/s`, `100/h`, `100/10m` (1 to 10,000 calls in 1 s to 1 d); `none`: no limit (`.some(nil)`).
    static func parseRateLimit(_ text: String) -> RateLimit?? {
        if text == "none" { return .some(nil) }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let count = Int(parts[0]), (1...10_000).contains(count) else { return nil }
        let units: [Substring: Int64] = ["s": 1, "min": 60, "m": 60, "h": 3600]
        guard let seconds = units[parts[1]] ?? parseDuration(String(parts[1])), (1...86_400).contains(seconds) else { return nil }
        return .some(RateLimit(count: count, window: .seconds(seconds)))
    }

    /// `90s`, `45m`, `48h`, `7d` in seconds.
    static func parseDuration(_ text: String) -> Int64? {
        guard let unit = text.last, let number = Int64(text.dropLast()), number >= 0 else { return nil }
        let scale: Int64
        switch unit {
        case "s": scale = 1
        case "m": scale = 60
        case "h": scale = 3600
        case "d": scale = 86_400
        default: return nil
        }
        let (seconds, overflow) = number.multipliedReportingOverflow(by: scale)
        return overflow ? nil : seconds
    }
}

/// `${NAME}` and `${NAME:-default}` in a configuration value, replaced from the environment.
enum EnvironmentReference {
    struct Missing: Error { var name: String }

    static func expand(_ text: String, environment: [String: String]) throws(Missing) -> String {
        var result = ""
        var rest = Substring(text)
        while let open = rest.range(of: "${") {
            result += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].firstIndex(of: "}") else {
                result += rest[open.lowerBound...]
                return result
            }
            let reference = rest[open.upperBound..<close]
            let parts = reference.split(separator: ":-", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0])
            if let value = environment[name], !value.isEmpty {
                result += value
            } else if parts.count == 2 {
                result += parts[1]
            } else {
                throw Missing(name: name)
            }
            rest = rest[rest.index(after: close)...]
        }
        return result + rest
    }
}

extension RulesFile {
    /// RFC 9110 `tchar`: what an HTTP header name is made of.
    static func isTokenCharacter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9": true
        default: "!#$%&'*+-.^_`|~".unicodeScalars.contains(scalar)
        }
    }
}
