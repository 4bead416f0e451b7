import ComplaintEvents
import Foundation
import HotelTime

/// Who is told what, on which channel, in which language: the notifier's rules file
/// (`services/notifier/rules.yaml`) as checked values. ``RulesFile`` reads it; the stage plans with it.
public struct NotificationRules: Sendable {
    /// Per-hotel settings; a hotel not listed uses ``defaultHotel``.
    public var hotels: [String: HotelSettings]
    public var defaultHotel: HotelSettings
    /// Robot groups, webhooks and the SMS gateway, by name.
    public var endpoints: [String: Endpoint]
    /// Staff contact details beyond the hotel's e-mail pattern, by ``staffKey(hotel:staffID:)``.
    public var staff: [String: StaffContact]

    /// Staff ids are unique within a hotel: the directory is keyed by both.
    public static func staffKey(hotel: String, staffID: String) -> String { "\(hotel)/\(staffID)" }

    /// The directory's entry for `staffID` of `hotel`.
    public func staffContact(hotel: String, staffID: String) -> StaffContact? { staff[Self.staffKey(hotel: hotel, staffID: staffID)] }
    public var rules: [Rule]
    /// Link templates: `{complaintId}` in `complaint`, `{token}` in `survey`.
    public var links: Links
    /// How long a follow-up survey link stays valid.
    public var surveyValidity: Duration
    /// Attempts per notification before it is given up.
    public var maximumAttempts: Int
    /// How many messages one complaint's guest may be sent, and how often by one rule.
    public var guestMessages: GuestMessageLimits

    public init(
        hotels: [String: HotelSettings] = [:], defaultHotel: HotelSettings = HotelSettings(), endpoints: [String: Endpoint] = [:],
        staff: [String: StaffContact] = [:], rules: [Rule], links: Links = Links(), surveyValidity: Duration = .seconds(7 * 86_400),
        maximumAttempts: Int = 30, guestMessages: GuestMessageLimits = GuestMessageLimits()
    ) {
        self.hotels = hotels
        self.defaultHotel = defaultHotel
        self.endpoints = endpoints
        self.staff = staff
        self.rules = rules
        self.links = links
        self.surveyValidity = surveyValidity
        self.maximumAttempts = maximumAttempts
        self.guestMessages = guestMessages
    }

    /// The bound on what one complaint sends its guest, applied when messages are planned: every
    /// resolution plans a "resolved" message and, a day later, a survey, so a complaint reopened and
    /// resolved again and again would otherwise message its guest without end.
    public struct GuestMessageLimits: Sendable, Hashable {
        /// Guest messages one complaint may plan in all, every rule together (registration, then a
        /// "resolved" message and a survey per resolution: 8 leaves room for three rounds).
        public var maximumPerComplaint = 8
        /// One rule messages one complaint's guest at most once in this time (a second "resolved" after a
        /// quick reopen, a second survey the same day); zero: no interval.
        public var minimumInterval: Duration = .seconds(3_600)
        /// A guest message about something older than this is not sent (zero: no limit): intake registers
        /// submissions of any age (a backfill of months-old complaints, a connector catching up) with the
        /// time they reach it, and the guest of a complaint from last spring is not to hear "we have received
        /// your feedback" today. The age is measured from the complaint's `reportedAt` for `received`, from
        /// the triggering event's time for the other triggers; skipped when planned, given up when sent
        /// (``DeliveryPerformer/staleness(of:reportedAt:maximumAge:now:)``), as `guest_message_stale`. A complaint
        /// registered more than this after its `reportedAt` (a backfill) has all its guest messages skipped as `guest_message_backfill`, a
        /// resolution recorded today too (``ComplaintFacts/isBackfill(maximumAge:)``).
        public var maximumAge: Duration = Self.defaultMaximumAge

        public static let defaultMaximumAge: Duration = .seconds(72 * 3_600)

        public init(maximumPerComplaint: Int = 8, minimumInterval: Duration = .seconds(3_600), maximumAge: Duration = Self.defaultMaximumAge) {
            self.maximumPerComplaint = maximumPerComplaint
            self.minimumInterval = minimumInterval
            self.maximumAge = maximumAge
        }
    }

    public func hotel(_ id: String) -> HotelSettings { hotels[id] ?? defaultHotel }

    /// The SMS gateway endpoint (the first by name if several).
    public var smsGateway: Endpoint? { endpoints.values.sorted { $0.name < $1.name }.first { $0.channel == .sms } }

    /// A hotel's language, zone, quiet hours and staff e-mail pattern.
    public struct HotelSettings: Sendable, Hashable {
        /// Shown in guest messages.
        public var name: String?
        /// The language of staff messages, and of guest messages when the guest's is not available.
        public var language: String
        public var timeZone: TimeZone
        /// Non-urgent guest messages falling in this local window wait for its end.
        public var quietHours: QuietHours?
        /// `{staffId}` is replaced: `{staffId}@pudong.example.com`; a staff entry's own e-mail wins.
        public var staffEmail: String?
        /// Endpoint names a rule's `robots` recipient means for this hotel.
        public var robots: [String]

        public init(
            name: String? = nil, language: String = "en", timeZone: TimeZone = TimeZone(identifier: "UTC")!, quietHours: QuietHours? = nil,
            staffEmail: String? = nil, robots: [String] = []
        ) {
            self.name = name
            self.language = language
            self.timeZone = timeZone
            self.quietHours = quietHours
            self.staffEmail = staffEmail
            self.robots = robots
        }
    }

    /// A staff member's own contact details and language.
    public struct StaffContact: Sendable, Hashable {
        public var email: String?
        public var phone: String?
        public var language: String?
        public init(email: String? = nil, phone: String? = nil, language: String? = nil) {
            self.email = email
            self.phone = phone
            self.language = language
        }
    }

    /// One rule: on these triggers, for complaints matching the filters, tell these recipients.
    public struct Rule: Sendable, Hashable {
        public var name: String
        public var triggers: Set<NotificationTrigger>
        /// Empty: any.
        public var severities: Set<Severity> = []
        public var hotels: Set<String> = []
        public var categories: Set<ComplaintCategory> = []
        public var recipients: [RecipientSelector]
        /// For people (guest, assignee): the channels to try, in order of preference; the guest's own
        /// preferred contact goes first when it is among them.
        public var channels: [DeliveryChannel] = [.email]
        public var template: String
        /// Urgent messages ignore quiet hours (staff messages always do).
        public var urgent: Bool = false

        public init(
            name: String, triggers: Set<NotificationTrigger>, severities: Set<Severity> = [], hotels: Set<String> = [],
            categories: Set<ComplaintCategory> = [], recipients: [RecipientSelector], channels: [DeliveryChannel] = [.email],
            template: String, urgent: Bool = false
        ) {
            self.name = name
            self.triggers = triggers
            self.severities = severities
            self.hotels = hotels
            self.categories = categories
            self.recipients = recipients
            self.channels = channels
            self.template = template
            self.urgent = urgent
        }

        /// Whether the rule applies to a complaint of `hotel` with `severity` and `category` (unknown
        /// values match only a rule that does not filter on them).
        public func matches(_ trigger: NotificationTrigger, hotel: String, severity: Severity?, category: ComplaintCategory?) -> Bool {
            guard triggers.contains(trigger) else { return false }
            if !hotels.isEmpty && !hotels.contains(hotel) { return false }
            if !severities.isEmpty { guard let severity, severities.contains(severity) else { return false } }
            if !categories.isEmpty { guard let category, categories.contains(category) else { return false } }
            return true
        }
    }

    /// Who a rule tells.
    public enum RecipientSelector: Sendable, Hashable {
        /// The guest, on the rule's channels (contact details from intake at send time).
        case guest
        /// Whoever holds the complaint now (the assignee of the latest `complaints.assigned.v1`).
        case assignee
        /// The hotel's robot groups (``HotelSettings/robots``).
        case robots
        /// One endpoint by name (an integrator's webhook, a particular group).
        case endpoint(String)
    }

    /// Links put into messages.
    public struct Links: Sendable, Hashable {
        /// Staff messages link here; `{complaintId}` is replaced.
        public var complaint: String
        /// The guest's survey page; `{token}` is replaced.
        public var survey: String
        public init(complaint: String = "http://127.0.0.1:8081/v1/complaints/{complaintId}", survey: String = "http://127.0.0.1:8081/survey/{token}") {
            self.complaint = complaint
            self.survey = survey
        }
    }
}

/// A local window (`22:00`–`08:00`, across midnight when the end is not after the start) during which
/// non-urgent guest messages are held.
public struct QuietHours: Sendable, Hashable {
    public var start: LocalTime
    public var end: LocalTime

    public init(start: LocalTime, end: LocalTime) {
        self.start = start
        self.end = end
    }

    /// When a message that would go out at `instant` may go: `nil` if now is fine, else the window's end.
    public func release(for instant: Date, in timeZone: TimeZone) -> Date? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let parts = calendar.dateComponents([.hour, .minute], from: instant)
        let minute = (parts.hour ?? 0) * 60 + (parts.minute ?? 0)
        let from = start.minutesSinceMidnight, to = end.minutesSinceMidnight
        let inside = from < to ? (minute >= from && minute < to) : (minute >= from || minute < to)
        guard inside else { return nil }
        // The next local time equal to `end` after the instant (today or tomorrow).
        let components = DateComponents(hour: end.hour, minute: end.minute, second: 0)
        return calendar.nextDate(after: instant, matching: components, matchingPolicy: .nextTime)
    }
}

/// Where a robot, webhook or SMS gateway message goes, and how to sign it.
public struct Endpoint: Sendable, Hashable {
    public var name: String
    /// `webhook`, `slack`, `teams`, `wecom`, `dingtalk`, `feishu` or `sms`.
    public var channel: DeliveryChannel
    public var url: String
    /// The signing secret (webhook HMAC, DingTalk and Feishu signatures), from the environment.
    public var secret: String?
    /// Extra request headers (an SMS gateway's API key), values from the environment.
    public var headers: [String: String]
    /// For `sms`: the request body, a mustache template with `{{to}}` and `{{text}}` (JSON-escaped).
    public var body: String?
    public var timeout: Duration
    /// Calls per window this notifier makes to it (per replica); `nil`: no limit. Defaults by channel
    /// (``RateLimit/defaultLimit(for:)``): 20 a minute for WeCom and DingTalk robots.
    public var rateLimit: RateLimit?

    public init(
        name: String, channel: DeliveryChannel, url: String, secret: String? = nil, headers: [String: String] = [:], body: String? = nil,
        timeout: Duration = .seconds(10), rateLimit: RateLimit?? = nil
    ) {
        self.name = name
        self.channel = channel
        self.url = url
        self.secret = secret
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.rateLimit = rateLimit ?? RateLimit.defaultLimit(for: channel)
    }
}
