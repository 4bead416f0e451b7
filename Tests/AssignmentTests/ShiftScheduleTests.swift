import Assignment
import Foundation
import HotelTime
import Testing

@Suite("Shift windows in the hotel's time zone")
struct ShiftScheduleTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var zone: String
        var shift: Shift
        var daysOff: [String] = []
        var at: String
        var onShift: Bool
        var testDescription: String { "\(zone) \(shift.start)–\(shift.end)\(shift.overnight ? "+1" : "") at \(at): \(onShift)" }
    }

    static let cases: [Case] = [
        // Shanghai (UTC+8, no daylight saving): 07:00–15:00 local is 23:00–07:00 UTC the day before.
        Case(zone: "Asia/Shanghai", shift: shift(weekdays, "07:00", "15:00"), at: "2026-12-01T23:00:00Z", onShift: true),  // Wed 07:00
        Case(zone: "Asia/Shanghai", shift: shift(weekdays, "07:00", "15:00"), at: "2026-12-01T22:59:59Z", onShift: false),
        Case(zone: "Asia/Shanghai", shift: shift(weekdays, "07:00", "15:00"), at: "2026-12-02T07:00:00Z", onShift: false), // end is exclusive
        Case(zone: "Asia/Shanghai", shift: shift(weekdays, "07:00", "15:00"), at: "2026-12-05T02:00:00Z", onShift: false), // Saturday
        // A night shift crossing midnight counts on the morning after its start day, not on the morning of it.
        Case(zone: "Asia/Shanghai", shift: shift([.fri], "23:00", "07:00", overnight: true), at: "2026-12-04T20:00:00Z", onShift: true),  // Sat 04:00
        Case(zone: "Asia/Shanghai", shift: shift([.fri], "23:00", "07:00", overnight: true), at: "2026-12-03T20:00:00Z", onShift: false), // Fri 04:00
        Case(zone: "Asia/Shanghai", shift: shift([.fri], "23:00", "07:00", overnight: true), at: "2026-12-04T15:30:00Z", onShift: true),  // Fri 23:30
        // A day off cancels the shift that starts on it, including the part after midnight.
        Case(zone: "Asia/Shanghai", shift: shift([.fri], "23:00", "07:00", overnight: true), daysOff: ["2026-12-04"],
             at: "2026-12-04T20:00:00Z", onShift: false),
        Case(zone: "Asia/Shanghai", shift: shift(everyDay, "09:00", "17:00"), daysOff: ["2026-12-25"], at: "2026-12-25T03:00:00Z", onShift: false),
        Case(zone: "Asia/Shanghai", shift: shift(everyDay, "09:00", "17:00"), daysOff: ["2026-12-25"], at: "2026-12-26T03:00:00Z", onShift: true),
        // London, spring forward (29 March 2026, 01:00 GMT → 02:00 BST): the 23:00–07:00 night is 7 hours.
        Case(zone: "Europe/London", shift: shift([.sat], "23:00", "07:00", overnight: true), at: "2026-03-28T23:00:00Z", onShift: true),
        Case(zone: "Europe/London", shift: shift([.sat], "23:00", "07:00", overnight: true), at: "2026-03-29T05:59:00Z", onShift: true),  // 06:59 BST
        Case(zone: "Europe/London", shift: shift([.sat], "23:00", "07:00", overnight: true), at: "2026-03-29T06:00:00Z", onShift: false), // 07:00 BST
        // A shift starting in the skipped hour (01:30 does not exist that night) starts after the gap.
        Case(zone: "Europe/London", shift: shift([.sun], "01:30", "09:00"), at: "2026-03-29T00:45:00Z", onShift: false),
        Case(zone: "Europe/London", shift: shift([.sun], "01:30", "09:00"), at: "2026-03-29T01:40:00Z", onShift: true),
        // London, fall back (25 October 2026, 02:00 BST → 01:00 GMT): the night is 9 hours and ends at 07:00 GMT.
        Case(zone: "Europe/London", shift: shift([.sat], "23:00", "07:00", overnight: true), at: "2026-10-24T22:00:00Z", onShift: true),  // 23:00 BST
        Case(zone: "Europe/London", shift: shift([.sat], "23:00", "07:00", overnight: true), at: "2026-10-25T06:59:00Z", onShift: true),
        Case(zone: "Europe/London", shift: shift([.sat], "23:00", "07:00", overnight: true), at: "2026-10-25T07:00:00Z", onShift: false),
        // Summer time: 09:00 BST is 08:00 UTC.
        Case(zone: "Europe/London", shift: shift(weekdays, "09:00", "17:00"), at: "2026-07-01T07:59:00Z", onShift: false),
        Case(zone: "Europe/London", shift: shift(weekdays, "09:00", "17:00"), at: "2026-07-01T08:00:00Z", onShift: true),
        // New York, across its own change (8 March 2026): 22:00–06:00 EST→EDT is 7 hours.
        Case(zone: "America/New_York", shift: shift([.sat], "22:00", "06:00", overnight: true), at: "2026-03-08T09:59:00Z", onShift: true),  // 05:59 EDT
        Case(zone: "America/New_York", shift: shift([.sat], "22:00", "06:00", overnight: true), at: "2026-03-08T10:00:00Z", onShift: false),
        // A 24-hour shift (overnight, end equal to start).
        Case(zone: "UTC", shift: shift([.mon], "08:00", "08:00", overnight: true), at: "2026-12-08T07:59:00Z", onShift: true),
        Case(zone: "UTC", shift: shift([.mon], "08:00", "08:00", overnight: true), at: "2026-12-08T08:00:00Z", onShift: false),
    ]

    @Test("on shift or not", arguments: cases)
    func window(_ testCase: Case) {
        let member = StaffMember(
            id: "X-1", name: "X", role: .agent, departments: ["housekeeping"], capacity: 1,
            daysOff: testCase.daysOff.compactMap(LocalDate.init), shifts: [testCase.shift])
        let schedule = ShiftSchedule(timeZone: TimeZone(identifier: testCase.zone)!)
        #expect(schedule.isOnShift(member, at: instant(testCase.at)) == testCase.onShift)
    }

    @Test("a night shift over the London autumn change lasts nine hours, over the spring change seven")
    func realLength() throws {
        let schedule = ShiftSchedule(timeZone: TimeZone(identifier: "Europe/London")!)
        let night = shift([.sat], "23:00", "07:00", overnight: true)
        let autumn = try #require(schedule.interval(of: night, startingOn: LocalDate("2026-10-24")!))
        let spring = try #require(schedule.interval(of: night, startingOn: LocalDate("2026-03-28")!))
        #expect(autumn.end.timeIntervalSince(autumn.start) == 9 * 3600)
        #expect(spring.end.timeIntervalSince(spring.start) == 7 * 3600)
    }
}
