import ComplaintEvents
import Foundation
import HotelTime

/// The people who handle complaints at every hotel of the group, and how work reaches them: the one
/// model the organisation file, the database and the HTTP API share.
public struct Organisation: Sendable, Hashable, Codable {
    /// The group's own dispatcher, for departments whose strategy is `http`.
    public var dispatcher: DispatcherSettings?
    public var hotels: [HotelOrganisation]

    public init(dispatcher: DispatcherSettings? = nil, hotels: [HotelOrganisation]) {
        self.dispatcher = dispatcher
        self.hotels = hotels
    }

    public func hotel(_ id: String) -> HotelOrganisation? { hotels.first { $0.id == id } }
}

/// One hotel: its time zone, default strategy, escalation chain, departments and staff.
public struct HotelOrganisation: Sendable, Hashable, Codable {
    public var id: String
    public var name: String
    /// IANA time zone; shifts and days off are read in it.
    public var timeZone: String
    /// The strategy of departments that name none.
    public var strategy: String
    /// Who takes escalation level 1, 2, 3 (index 0 is level 1).
    public var escalation: [EscalationRole]
    public var departments: [Department]
    public var staff: [StaffMember]

    public init(
        id: String, name: String, timeZone: String, strategy: String = LeastLoadedStrategy.name,
        escalation: [EscalationRole] = HotelOrganisation.defaultEscalation, departments: [Department], staff: [StaffMember]
    ) {
        self.id = id
        self.name = name
        self.timeZone = timeZone
        self.strategy = strategy
        self.escalation = escalation
        self.departments = departments
        self.staff = staff
    }

    /// Department head, then duty manager, then general manager.
    public static let defaultEscalation: [EscalationRole] = [.departmentHead, .dutyManager, .generalManager]

    enum CodingKeys: String, CodingKey {
        case id, name, timeZone, strategy, escalation, departments, staff
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        name = try container.decodeIfPresent(String.self, forKey: .name) ?? id
        timeZone = try container.decode(String.self, forKey: .timeZone)
        strategy = try container.decodeIfPresent(String.self, forKey: .strategy) ?? LeastLoadedStrategy.name
        escalation = try container.decodeIfPresent([EscalationRole].self, forKey: .escalation) ?? Self.defaultEscalation
        departments = try container.decodeIfPresent([Department].self, forKey: .departments) ?? []
        staff = try container.decodeIfPresent([StaffMember].self, forKey: .staff) ?? []
    }

    public func department(_ code: String) -> Department? { departments.first { $0.code == code } }
    public func member(_ staffID: String) -> StaffMember? { staff.first { $0.id == staffID } }

    /// The department that handles `category` here: the one whose categories list it.
    public func department(for category: ComplaintCategory) -> Department? {
        departments.first { $0.categories.contains(category) }
    }

    /// The hotel's time zone (UTC if the identifier is unknown, which validation prevents).
    public var zone: TimeZone { TimeZone(identifier: timeZone) ?? TimeZone(identifier: "UTC")! }
}

/// A department of a hotel and the complaint categories routed to it.
public struct Department: Sendable, Hashable, Codable {
    /// `housekeeping`, `engineering`, …: the code events carry.
    public var code: String
    public var name: String
    /// Categories routed here; when the file leaves them out, the defaults for the code (``DefaultRouting``).
    public var categories: [ComplaintCategory]
    /// The strategy for this department; `nil` uses the hotel's.
    public var strategy: String?

    public init(code: String, name: String, categories: [ComplaintCategory], strategy: String? = nil) {
        self.code = code
        self.name = name
        self.categories = categories
        self.strategy = strategy
    }

    enum CodingKeys: String, CodingKey { case code, name, categories, strategy }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        code = try container.decode(String.self, forKey: .code)
        name = try container.decodeIfPresent(String.self, forKey: .name) ?? DefaultRouting.name(of: code)
        categories = try container.decodeIfPresent([ComplaintCategory].self, forKey: .categories) ?? DefaultRouting.categories(of: code)
        strategy = try container.decodeIfPresent(String.self, forKey: .strategy)
    }
}

/// Someone who can own a complaint.
public struct StaffMember: Sendable, Hashable, Codable {
    public var id: String
    public var name: String
    public var role: StaffRole
    /// Department codes of this hotel; empty for duty managers and the general manager.
    public var departments: [String]
    /// BCP 47 tags (`zh-CN`, `en`).
    public var languages: [String]
    /// Free words (`vip`, `plumbing`, or a category name) the language/skill strategy matches.
    public var skills: [String]
    /// The most open complaints this person takes from the strategies (fallbacks and escalations
    /// may exceed it).
    public var capacity: Int
    /// `false` takes the person out of every choice without deleting their history.
    public var active: Bool
    /// Local dates on which none of their shifts starts.
    public var daysOff: [LocalDate]
    public var shifts: [Shift]

    public init(
        id: String, name: String, role: StaffRole, departments: [String], languages: [String] = [], skills: [String] = [],
        capacity: Int, active: Bool = true, daysOff: [LocalDate] = [], shifts: [Shift] = []
    ) {
        self.id = id
        self.name = name
        self.role = role
        self.departments = departments
        self.languages = languages
        self.skills = skills
        self.capacity = capacity
        self.active = active
        self.daysOff = daysOff
        self.shifts = shifts
    }

    enum CodingKeys: String, CodingKey {
        case id, name, role, departments, languages, skills, capacity, active, daysOff, shifts
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        name = try container.decode(String.self, forKey: .name)
        role = try container.decode(StaffRole.self, forKey: .role)
        departments = try container.decodeIfPresent([String].self, forKey: .departments) ?? []
        languages = try container.decodeIfPresent([String].self, forKey: .languages) ?? []
        skills = try container.decodeIfPresent([String].self, forKey: .skills) ?? []
        capacity = try container.decode(Int.self, forKey: .capacity)
        active = try container.decodeIfPresent(Bool.self, forKey: .active) ?? true
        daysOff = try container.decodeIfPresent([LocalDate].self, forKey: .daysOff) ?? []
        shifts = try container.decodeIfPresent([Shift].self, forKey: .shifts) ?? []
    }

    /// Whether they speak `language` (`zh` matches `zh-CN` and the other way round).
    public func speaks(_ language: String) -> Bool {
        let wanted = language.lowercased()
        let wantedBase = wanted.split(separator: "-").first.map(String.init) ?? wanted
        return languages.contains { spoken in
            let spoken = spoken.lowercased()
            return spoken == wanted || (spoken.split(separator: "-").first.map(String.init) ?? spoken) == wantedBase
        }
    }
}

/// A weekly shift: the weekdays it starts on and its local start and end. A shift whose end is not
/// after its start must say `overnight: true`; it ends on the next day.
public struct Shift: Sendable, Hashable, Codable {
    /// Set once stored; the API addresses a shift by it.
    public var id: UUID?
    public var days: [Weekday]
    public var start: LocalTime
    public var end: LocalTime
    public var overnight: Bool

    public init(id: UUID? = nil, days: [Weekday], start: LocalTime, end: LocalTime, overnight: Bool = false) {
        self.id = id
        self.days = days
        self.start = start
        self.end = end
        self.overnight = overnight
    }

    enum CodingKeys: String, CodingKey { case id, days, start, end, overnight }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decodeIfPresent(UUID.self, forKey: .id)
        days = try container.decode([Weekday].self, forKey: .days)
        start = try container.decode(LocalTime.self, forKey: .start)
        end = try container.decode(LocalTime.self, forKey: .end)
        overnight = try container.decodeIfPresent(Bool.self, forKey: .overnight) ?? false
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(id?.lowercasedString, forKey: .id)
        try container.encode(days, forKey: .days)
        try container.encode(start, forKey: .start)
        try container.encode(end, forKey: .end)
        if overnight { try container.encode(true, forKey: .overnight) }
    }
}

/// Where the group's dispatcher listens and how long to wait for it.
public struct DispatcherSettings: Sendable, Hashable, Codable {
    public var url: String
    /// How long one answer may take before the fallback strategy decides.
    public var timeoutMilliseconds: Int
    /// The built-in strategy used when the dispatcher fails, times out or names nobody eligible.
    public var fallback: String

    public init(url: String, timeoutMilliseconds: Int = 800, fallback: String = LeastLoadedStrategy.name) {
        self.url = url
        self.timeoutMilliseconds = timeoutMilliseconds
        self.fallback = fallback
    }

    enum CodingKeys: String, CodingKey { case url, timeoutMilliseconds = "timeoutMs", fallback }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        url = try container.decode(String.self, forKey: .url)
        timeoutMilliseconds = try container.decodeIfPresent(Int.self, forKey: .timeoutMilliseconds) ?? 800
        fallback = try container.decodeIfPresent(String.self, forKey: .fallback) ?? LeastLoadedStrategy.name
    }
}
