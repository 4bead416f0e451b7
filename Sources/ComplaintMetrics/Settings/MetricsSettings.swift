import ComplaintEvents
import Foundation

/// What the metrics service compares with, from `services/metrics/metrics.yaml`: the hotels (zone, size,
/// compensation budget), the SLA compliance targets, the repeat window, the early-warning thresholds and
/// the service-quality index's weights and limits.
public struct MetricsSettings: Sendable, Hashable {
    /// A hotel as the reports need it.
    public struct Hotel: Sendable, Hashable, Codable {
        public var id: String
        public var name: String
        public var timeZone: TimeZone
        public var language: String
        /// Rooms, to compare hotels of different sizes (the quality index's per-100-rooms rates).
        public var rooms: Int
        /// Compensation budget per calendar month (hotel time), minor units by ISO 4217 code.
        public var monthlyBudget: [String: Int64]

        public init(
            id: String, name: String? = nil, timeZone: TimeZone = .gmt, language: String = "en", rooms: Int = 100,
            monthlyBudget: [String: Int64] = [:]
        ) {
            self.id = id
            self.name = name ?? id
            self.timeZone = timeZone
            self.language = language
            self.rooms = rooms
            self.monthlyBudget = monthlyBudget
        }
    }

    /// How the early-warning detector decides (README, "Early warning").
    public struct EarlyWarning: Sendable, Hashable {
        public var every: Duration = .seconds(60)
        public var window: TimeInterval = 3600
        public var baselineWeeks = 4
        public var pValue = 0.001
        public var criticalPValue = 0.000_001
        public var minimumCount = 5
        public var minimumBaseline = 0.5
        public var clearPValue = 0.05
        public var slaWindow: TimeInterval = 86_400
        public var slaMinimumDecided = 10
        public init() {}
    }

    /// The SERVQUAL dimensions' weights (normalised to sum 1) and the values at which a score reaches 0.
    public struct QualityIndex: Sendable, Hashable {
        public var weights: [QualityDimension: Double] = [
            .tangibles: 0.11, .reliability: 0.32, .responsiveness: 0.22, .assurance: 0.19, .empathy: 0.16,
        ]
        public var tangiblesPer100RoomsMonthly = 10.0
        public var assurancePer100RoomsMonthly = 2.0
        public var acknowledgeMedianLimit: TimeInterval = 3600
        public var resolveMedianLimit: TimeInterval = 48 * 3600
        public init() {}
    }

    public var hotels: [String: Hotel] = [:]
    public var acknowledgeComplianceTarget = 0.90
    public var resolveComplianceTarget = 0.85
    public var repeatWindowDays = 30
    public var earlyWarning = EarlyWarning()
    public var qualityIndex = QualityIndex()

    public init(hotels: [Hotel] = []) {
        self.hotels = Dictionary(uniqueKeysWithValues: hotels.map { ($0.id, $0) })
    }

    /// The hotel `id` as configured, or a plain one in UTC for a hotel only seen in events.
    public func hotel(_ id: String) -> Hotel { hotels[id] ?? Hotel(id: id) }

    /// The compliance target of `target`.
    public func complianceTarget(_ target: SLATarget) -> Double {
        switch target {
        case .acknowledge: acknowledgeComplianceTarget
        case .resolve, .followup, .ceiling: resolveComplianceTarget
        }
    }
}

/// The five dimensions of service quality in SERVQUAL (Parasuraman, Zeithaml & Berry, 1988).
public enum QualityDimension: String, Sendable, Hashable, Codable, CaseIterable {
    case tangibles, reliability, responsiveness, assurance, empathy
}
