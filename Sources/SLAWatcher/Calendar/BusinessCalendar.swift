import Foundation
import HotelTime

/// When a hotel department's SLA clock runs: around the clock (`24x7`), or only in opening hours per
/// weekday outside holidays, read in the hotel's IANA time zone (daylight-saving changes included).
/// Business time counts only inside open hours; a clock that starts outside them starts at the next opening.
public struct BusinessCalendar: Sendable, Hashable {
    /// Opening hours of one day: `09:00-18:00`.
    public struct Opening: Sendable, Hashable, CustomStringConvertible {
        public var start: LocalTime
        public var end: LocalTime

        public init(start: LocalTime, end: LocalTime) {
            self.start = start
            self.end = end
        }

        /// Parses `HH:MM-HH:MM` with the end after the start (`24:00` closes at midnight).
        public init?(_ text: String) {
            let parts = text.split(separator: "-").map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, let start = LocalTime(parts[0]), let end = LocalTime(parts[1]), start.hour < 24, end > start else {
                return nil
            }
            self.init(start: start, end: end)
        }

        public var description: String { "\(start)-\(end)" }
    }

    public var name: String
    /// `nil`: open around the clock.
    public var hours: [Weekday: [Opening]]?
    public var holidays: Set<LocalDate>

    public init(name: String, hours: [Weekday: [Opening]]?, holidays: Set<LocalDate> = []) {
        self.name = name
        self.hours = hours
        self.holidays = holidays
    }

    /// Open every minute of every day.
    public static let alwaysOpen = BusinessCalendar(name: "24x7", hours: nil)

    public var isAlwaysOpen: Bool { hours == nil }

    /// How many days ahead ``deadline(from:adding:in:)`` looks: ten years.
    static let searchDays = 3660

    /// Business time this calendar opens in a week (nominal local hours; `nil` around the clock).
    public var weeklyOpenTime: TimeInterval? {
        hours.map { $0.values.joined().reduce(0) { $0 + TimeInterval(($1.end.minutesSinceMidnight - $1.start.minutesSinceMidnight) * 60) } }
    }

    /// The longest business time ``deadline(from:adding:in:)`` is sure to find an end for, from any start
    /// in any zone (`nil`: no limit, around the clock). Conservative: the business time of half the weeks
    /// it looks ahead, less every holiday as a longest day — daylight-saving days that lose an open hour
    /// are well within the other half.
    public var longestComputableDuration: TimeInterval? {
        guard let hours, let weekly = weeklyOpenTime else { return nil }
        let longestDay = hours.values.map { openings in
            openings.reduce(0) { $0 + TimeInterval(($1.end.minutesSinceMidnight - $1.start.minutesSinceMidnight) * 60) }
        }.max() ?? 0
        return max(0, TimeInterval(Self.searchDays / 7 / 2) * weekly - TimeInterval(holidays.count) * longestDay)
    }

    /// The instant `duration` of business time after `start` in `timeZone`; `nil` when the calendar is
    /// never open (no hours on any day), or not within ten years (the policy file refuses targets longer
    /// than ``longestComputableDuration``).
    public func deadline(from start: Date, adding duration: TimeInterval, in timeZone: TimeZone) -> Date? {
        guard let hours else { return start.addingTimeInterval(duration) }
        let calendar = ZonedCalendar(timeZone: timeZone)
        var remaining = duration
        var day = calendar.day(of: start)
        for _ in 0..<Self.searchDays {
            for (open, close) in intervals(on: day, hours: hours, calendar: calendar) where close > start {
                let from = max(open, start)
                let available = close.timeIntervalSince(from)
                if remaining <= available { return from.addingTimeInterval(remaining) }
                remaining -= available
            }
            guard let next = calendar.day(day, plus: 1) else { return nil }
            day = next
        }
        return nil
    }

    /// The business time between `start` and `end` (0 when `end` is not after `start`).
    public func businessTime(from start: Date, to end: Date, in timeZone: TimeZone) -> TimeInterval {
        guard end > start else { return 0 }
        guard let hours else { return end.timeIntervalSince(start) }
        let calendar = ZonedCalendar(timeZone: timeZone)
        var total: TimeInterval = 0
        var day = calendar.day(of: start)
        let last = calendar.day(of: end)
        while day <= last {
            for (open, close) in intervals(on: day, hours: hours, calendar: calendar) {
                let from = max(open, start), to = min(close, end)
                if to > from { total += to.timeIntervalSince(from) }
            }
            guard let next = calendar.day(day, plus: 1) else { break }
            day = next
        }
        return total
    }

    /// The open intervals of `day` as instants, in order.
    private func intervals(on day: LocalDate, hours: [Weekday: [Opening]], calendar: ZonedCalendar) -> [(Date, Date)] {
        guard !holidays.contains(day), let weekday = calendar.weekday(of: day) else { return [] }
        return (hours[weekday] ?? []).sorted { $0.start < $1.start }.compactMap { opening in
            guard let open = calendar.instant(day, opening.start), let close = calendar.instant(day, opening.end), close > open else {
                return nil
            }
            return (open, close)
        }
    }
}
