import ComplaintEvents
import Foundation
import HotelTime

/// One question to the KPIs: which hotels, which local days (inclusive), grouped how, filtered by what.
/// The API, the dashboard and the Prometheus gauges all ask through it, so a KPI means the same
/// everywhere (definitions: `services/metrics/README.md`).
public struct KPIQuery: Sendable, Hashable {
    /// How the figures are split. Time buckets are local to each complaint's hotel; weeks start on Monday.
    public enum Grouping: String, Sendable, Hashable, CaseIterable, Codable {
        case none, day, week, month, hotel, department, category, severity, channel
    }

    public var hotels: [MetricsSettings.Hotel]
    /// First local day, inclusive.
    public var from: LocalDate
    /// Last local day, inclusive.
    public var to: LocalDate
    public var groupBy: Grouping = .none
    public var category: ComplaintCategory?
    public var severity: Severity?
    public var channel: ComplaintChannel?
    public var department: String?
    /// Complaints left out of every figure (the rebuild's comparison leaves out those changed after its
    /// replay's end marks); empty for the API.
    public var excludedComplaints: [UUID] = []

    /// The longest range one question may span (a year and a day, for a leap year's Jan 1 – Dec 31 plus slack).
    public static let longestRangeDays = 366

    public init(hotels: [MetricsSettings.Hotel], from: LocalDate, to: LocalDate, groupBy: Grouping = .none) {
        self.hotels = hotels
        self.from = from
        self.to = to
        self.groupBy = groupBy
    }

    /// Each hotel's range as instants: [start of `from`, start of the day after `to`) in its zone.
    func bounds() -> [(hotel: MetricsSettings.Hotel, start: Date, end: Date)] {
        hotels.compactMap { hotel in
            let calendar = ZonedCalendar(timeZone: hotel.timeZone)
            let midnight = LocalTime(hour: 0, minute: 0)
            guard let start = calendar.instant(from, midnight), let next = calendar.day(to, plus: 1),
                  let end = calendar.instant(next, midnight)
            else { return nil }
            return (hotel, start, end)
        }
    }

    /// The number of days `from`…`to` covers (1 for a single day); 0 when `to` is before `from`.
    public var dayCount: Int {
        let calendar = ZonedCalendar(timeZone: .gmt)
        guard let start = calendar.instant(from, LocalTime(hour: 12, minute: 0)), let end = calendar.instant(to, LocalTime(hour: 12, minute: 0))
        else { return 0 }
        return max(0, Int((end.timeIntervalSince(start) / 86_400).rounded()) + 1)
    }
}
