import ComplaintEvents
import ComplaintPipeline
import Foundation
import HotelTime

/// Reads `services/metrics/metrics.yaml` into ``MetricsSettings``, refusing a file with any problem (an
/// unknown zone, a negative budget, a p-value outside 0–1, weights that sum to nothing) with
/// `file:line: field: reason`.
public enum MetricsFile {
    /// The shipped file, relative to the Redress home.
    public static let defaultPath = "services/metrics/metrics.yaml"

    static let allowedKeys: [String: Set<String>] = [
        "": ["hotels", "targets", "repeatWindowDays", "earlyWarning", "qualityIndex"],
        "targets": ["acknowledgeCompliance", "resolveCompliance"],
        "earlyWarning": [
            "every", "window", "baselineWeeks", "pValue", "criticalPValue", "minimumCount", "minimumBaseline", "clearPValue",
            "slaWindow", "slaMinimumDecided",
        ],
        "qualityIndex": [
            "weights", "tangiblesPer100RoomsMonthly", "assurancePer100RoomsMonthly", "acknowledgeMedianLimit", "resolveMedianLimit",
        ],
        "qualityIndex.weights": Set(QualityDimension.allCases.map(\.rawValue)),
    ]
    static let hotelKeys: Set<String> = ["name", "timeZone", "language", "rooms", "monthlyBudget"]

    struct RawFile: Decodable {
        var hotels: [String: RawHotel]?
        var targets: [String: Double]?
        var repeatWindowDays: Int?
        var earlyWarning: RawEarlyWarning?
        var qualityIndex: RawQualityIndex?
    }

    struct RawHotel: Decodable {
        var name: String?
        var timeZone: String?
        var language: String?
        var rooms: Int?
        var monthlyBudget: [String: Int64]?
    }

    struct RawEarlyWarning: Decodable {
        var every: String?
        var window: String?
        var baselineWeeks: Int?
        var pValue: Double?
        var criticalPValue: Double?
        var minimumCount: Int?
        var minimumBaseline: Double?
        var clearPValue: Double?
        var slaWindow: String?
        var slaMinimumDecided: Int?
    }

    struct RawQualityIndex: Decodable {
        var weights: [String: Double]?
        var tangiblesPer100RoomsMonthly: Double?
        var assurancePer100RoomsMonthly: Double?
        var acknowledgeMedianLimit: String?
        var resolveMedianLimit: String?
    }

    /// Loads and checks the file at `path`.
    public static func load(contentsOf path: String) throws(ConfigurationFileError) -> MetricsSettings {
        try load(try ConfigurationFile(contentsOf: path))
    }

    /// Loads and checks `file`.
    public static func load(_ file: ConfigurationFile) throws(ConfigurationFileError) -> MetricsSettings {
        if let unknown = file.unknownKeys(allowed: { shape in
            // Hotel ids and currency codes are any keys; a hotel's own settings are known.
            if shape == "hotels" { return nil }
            if shape.hasPrefix("hotels.") { return shape.split(separator: ".").count == 2 ? hotelKeys : nil }
            return allowedKeys[shape]
        }) {
            throw unknown
        }
        let raw = try file.decode(RawFile.self)
        typealias Path = [FieldPath.Component]
        func fail(_ path: Path, _ reason: String) -> ConfigurationFileError { file.error(at: path, reason) }
        func seconds(_ text: String?, _ path: Path, minimum: Int = 1) throws(ConfigurationFileError) -> Int? {
            guard let text else { return nil }
            if let problem = PolicyDuration.problem(with: text) { throw fail(path, problem) }
            guard let duration = PolicyDuration(text), duration.seconds >= minimum else {
                throw fail(path, "must be at least \(minimum) s")
            }
            return duration.seconds
        }
        func probability(_ value: Double?, _ path: Path) throws(ConfigurationFileError) -> Double? {
            guard let value else { return nil }
            guard value > 0, value < 1 else { throw fail(path, "must be a probability between 0 and 1 (exclusive)") }
            return value
        }
        func positive<N: Numeric & Comparable>(_ value: N?, _ path: Path) throws(ConfigurationFileError) -> N? {
            guard let value else { return nil }
            guard value > 0 else { throw fail(path, "must be greater than 0") }
            return value
        }

        var settings = MetricsSettings()
        for (id, hotel) in (raw.hotels ?? [:]).sorted(by: { $0.key < $1.key }) {
            let path: Path = [.key("hotels"), .key(id)]
            var entry = MetricsSettings.Hotel(id: id, name: hotel.name)
            if let zone = hotel.timeZone {
                guard let timeZone = TimeZone(identifier: zone), TimeZone.knownTimeZoneIdentifiers.contains(zone) || zone == "UTC" else {
                    throw fail(path + [.key("timeZone")], "must be an IANA time zone such as Asia/Shanghai or Europe/London")
                }
                entry.timeZone = timeZone
            }
            entry.language = hotel.language ?? entry.language
            entry.rooms = try positive(hotel.rooms, path + [.key("rooms")]) ?? entry.rooms
            for (currency, amount) in hotel.monthlyBudget ?? [:] {
                let field = path + [.key("monthlyBudget"), .key(currency)]
                guard currency.count == 3, currency.allSatisfy({ $0.isASCII && $0.isUppercase }) else {
                    throw fail(field, "must be an ISO 4217 currency code such as CNY")
                }
                guard amount >= 0 else { throw fail(field, "must be an amount in minor units, 0 or more") }
                entry.monthlyBudget[currency] = amount
            }
            settings.hotels[id] = entry
        }
        for (key, value) in raw.targets ?? [:] {
            guard value > 0, value <= 1 else { throw fail([.key("targets"), .key(key)], "must be a share between 0 and 1") }
            if key == "acknowledgeCompliance" { settings.acknowledgeComplianceTarget = value } else { settings.resolveComplianceTarget = value }
        }
        if let days = raw.repeatWindowDays {
            guard (1...3650).contains(days) else { throw fail([.key("repeatWindowDays")], "must be a number of days in 1…3650") }
            settings.repeatWindowDays = days
        }

        if let warning = raw.earlyWarning {
            let path: Path = [.key("earlyWarning")]
            var rules = settings.earlyWarning
            if let every = try seconds(warning.every, path + [.key("every")]) { rules.every = .seconds(every) }
            if let window = try seconds(warning.window, path + [.key("window")], minimum: 60) { rules.window = TimeInterval(window) }
            rules.baselineWeeks = try positive(warning.baselineWeeks, path + [.key("baselineWeeks")]) ?? rules.baselineWeeks
            rules.pValue = try probability(warning.pValue, path + [.key("pValue")]) ?? rules.pValue
            rules.criticalPValue = try probability(warning.criticalPValue, path + [.key("criticalPValue")]) ?? rules.criticalPValue
            rules.clearPValue = try probability(warning.clearPValue, path + [.key("clearPValue")]) ?? rules.clearPValue
            rules.minimumCount = try positive(warning.minimumCount, path + [.key("minimumCount")]) ?? rules.minimumCount
            rules.minimumBaseline = try positive(warning.minimumBaseline, path + [.key("minimumBaseline")]) ?? rules.minimumBaseline
            if let window = try seconds(warning.slaWindow, path + [.key("slaWindow")], minimum: 60) { rules.slaWindow = TimeInterval(window) }
            rules.slaMinimumDecided = try positive(warning.slaMinimumDecided, path + [.key("slaMinimumDecided")]) ?? rules.slaMinimumDecided
            guard rules.criticalPValue <= rules.pValue else {
                throw fail(path + [.key("criticalPValue")], "must not be above pValue (\(rules.pValue))")
            }
            guard rules.clearPValue > rules.pValue else {
                throw fail(path + [.key("clearPValue")], "must be above pValue (\(rules.pValue)), or an alert would clear as it is raised")
            }
            settings.earlyWarning = rules
        }

        if let quality = raw.qualityIndex {
            let path: Path = [.key("qualityIndex")]
            var index = settings.qualityIndex
            if let weights = quality.weights {
                for (key, value) in weights {
                    guard value >= 0 else { throw fail(path + [.key("weights"), .key(key)], "must be 0 or more") }
                    if let dimension = QualityDimension(rawValue: key) { index.weights[dimension] = value }
                }
                guard index.weights.values.reduce(0, +) > 0 else { throw fail(path + [.key("weights")], "at least one weight must be above 0") }
            }
            index.tangiblesPer100RoomsMonthly = try positive(quality.tangiblesPer100RoomsMonthly, path + [.key("tangiblesPer100RoomsMonthly")])
                ?? index.tangiblesPer100RoomsMonthly
            index.assurancePer100RoomsMonthly = try positive(quality.assurancePer100RoomsMonthly, path + [.key("assurancePer100RoomsMonthly")])
                ?? index.assurancePer100RoomsMonthly
            if let limit = try seconds(quality.acknowledgeMedianLimit, path + [.key("acknowledgeMedianLimit")]) {
                index.acknowledgeMedianLimit = TimeInterval(limit)
            }
            if let limit = try seconds(quality.resolveMedianLimit, path + [.key("resolveMedianLimit")]) {
                index.resolveMedianLimit = TimeInterval(limit)
            }
            settings.qualityIndex = index
        }
        return settings
    }
}
