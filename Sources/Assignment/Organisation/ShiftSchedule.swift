import Foundation

/// Who is on shift at an instant, reading weekly shifts in the hotel's time zone: a shift that starts
/// yesterday evening and crosses midnight counts, a day off cancels the shifts that start on it, and
/// daylight-saving changes give the shift its real length (a 23:00–07:00 night is 8 hours, 7 or 9).
public struct ShiftSchedule: Sendable {
    public let timeZone: TimeZone
    private let calendar: Calendar

    public init(timeZone: TimeZone) {
        self.timeZone = timeZone
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        self.calendar = calendar
    }

    /// The shift of `member` that covers `instant`, with its real start and end, if any.
    public func currentShift(of member: StaffMember, at instant: Date) -> (shift: Shift, start: Date, end: Date)? {
        let today = LocalDate(calendar.dateComponents([.year, .month, .day], from: instant))
        guard let yesterday = day(today, plus: -1) else { return nil }
        // A shift covering `instant` started today or (overnight) yesterday.
        for startDay in [today, yesterday] {
            guard !member.daysOff.contains(startDay), let weekday = weekday(of: startDay) else { continue }
            for shift in member.shifts where shift.days.contains(weekday) {
                guard let interval = interval(of: shift, startingOn: startDay) else { continue }
                if interval.start <= instant && instant < interval.end {
                    return (shift, interval.start, interval.end)
                }
            }
        }
        return nil
    }

    /// Whether `member` is on one of their shifts at `instant`.
    public func isOnShift(_ member: StaffMember, at instant: Date) -> Bool {
        currentShift(of: member, at: instant) != nil
    }

    /// The real instants a shift occupies when it starts on `day`. A local time that does not exist
    /// (skipped by a spring-forward change) moves forward past the gap; one that occurs
    /// twice (autumn) is its first occurrence.
    public func interval(of shift: Shift, startingOn day: LocalDate) -> (start: Date, end: Date)? {
        guard let start = instant(day, shift.start) else { return nil }
        let endDay = shift.overnight ? self.day(day, plus: 1) : day
        guard let endDay, let end = instant(endDay, shift.end), end > start else { return nil }
        return (start, end)
    }

    private func instant(_ day: LocalDate, _ time: LocalTime) -> Date? {
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

    private func day(_ day: LocalDate, plus days: Int) -> LocalDate? {
        // Noon is never skipped or repeated by a daylight-saving change.
        var components = day.components
        components.hour = 12
        guard let noon = calendar.date(from: components), let moved = calendar.date(byAdding: .day, value: days, to: noon) else {
            return nil
        }
        return LocalDate(calendar.dateComponents([.year, .month, .day], from: moved))
    }

    private func weekday(of day: LocalDate) -> Weekday? {
        var components = day.components
        components.hour = 12
        guard let noon = calendar.date(from: components) else { return nil }
        return Weekday(calendarWeekday: calendar.component(.weekday, from: noon))
    }
}
