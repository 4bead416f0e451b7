import Foundation

/// Local dates and times of one IANA time zone turned into instants and back, daylight-saving changes
/// included: the one place shifts (assignment) and opening hours (SLA calendars) are read.
public struct ZonedCalendar: Sendable {
    public let timeZone: TimeZone
    private let calendar: Calendar

    public init(timeZone: TimeZone) {
        self.timeZone = timeZone
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        self.calendar = calendar
    }

    /// The local date of `instant`.
    public func day(of instant: Date) -> LocalDate {
        LocalDate(calendar.dateComponents([.year, .month, .day], from: instant))
    }

    /// The instant `time` (`24:00`: the next midnight) on `day`. A local time that does not exist
    /// (skipped by a spring-forward change) moves forward past the gap; one that occurs twice (autumn)
    /// is its first occurrence.
    public func instant(_ day: LocalDate, _ time: LocalTime) -> Date? {
        var components = day.components
        if time.hour == 24 {
            guard let next = self.day(day, plus: 1) else { return nil }
            components = next.components
            components.hour = 0
        } else {
            components.hour = time.hour
        }
        components.minute = time.minute
        return calendar.date(from: components)
    }

    /// The date `days` after (or before) `day`.
    public func day(_ day: LocalDate, plus days: Int) -> LocalDate? {
        // Noon is never skipped or repeated by a daylight-saving change.
        var components = day.components
        components.hour = 12
        guard let noon = calendar.date(from: components), let moved = calendar.date(byAdding: .day, value: days, to: noon) else {
            return nil
        }
        return LocalDate(calendar.dateComponents([.year, .month, .day], from: moved))
    }

    /// The weekday of `day`.
    public func weekday(of day: LocalDate) -> Weekday? {
        var components = day.components
        components.hour = 12
        guard let noon = calendar.date(from: components) else { return nil }
        return Weekday(calendarWeekday: calendar.component(.weekday, from: noon))
    }
}
