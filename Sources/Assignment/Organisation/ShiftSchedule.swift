import Foundation
import HotelTime

/// Who is on shift at an instant, reading weekly shifts in the hotel's time zone: a shift that starts
/// yesterday evening and crosses midnight counts, a day off cancels the shifts that start on it, and
/// daylight-saving changes give the shift its real length (a 23:00–07:00 night is 8 hours, 7 or 9).
public struct ShiftSchedule: Sendable {
    public let timeZone: TimeZone
    private let calendar: ZonedCalendar

    public init(timeZone: TimeZone) {
        self.timeZone = timeZone
        self.calendar = ZonedCalendar(timeZone: timeZone)
    }

    /// The shift of `member` that covers `instant`, with its real start and end, if any.
    public func currentShift(of member: StaffMember, at instant: Date) -> (shift: Shift, start: Date, end: Date)? {
        let today = calendar.day(of: instant)
        guard let yesterday = calendar.day(today, plus: -1) else { return nil }
        // A shift covering `instant` started today or (overnight) yesterday.
        for startDay in [today, yesterday] {
            guard !member.daysOff.contains(startDay), let weekday = calendar.weekday(of: startDay) else { continue }
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

    /// The real instants a shift occupies when it starts on `day` (see ``ZonedCalendar/instant(_:_:)``
    /// for local times a daylight-saving change skips or repeats).
    public func interval(of shift: Shift, startingOn day: LocalDate) -> (start: Date, end: Date)? {
        guard let start = calendar.instant(day, shift.start) else { return nil }
        let endDay = shift.overnight ? calendar.day(day, plus: 1) : day
        guard let endDay, let end = calendar.instant(endDay, shift.end), end > start else { return nil }
        return (start, end)
    }
}
