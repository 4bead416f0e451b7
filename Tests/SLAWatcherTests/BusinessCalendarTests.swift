import Foundation
import HotelTime
import SLAWatcher
import Testing

func instant(_ text: String) -> Date {
    guard let date = ISO8601DateFormatter().date(from: text) else { fatalError("bad instant \(text)") }
    return date
}

func rfc3339(_ date: Date?) -> String {
    guard let date else { return "never" }
    let formatter = ISO8601DateFormatter()
    formatter.timeZone = TimeZone(identifier: "UTC")
    return formatter.string(from: date)
}

/// Monday to Friday 09:00–18:00 local, 1 January 2027 and 25 December 2026 off.
let office = BusinessCalendar(
    name: "office",
    hours: Dictionary(uniqueKeysWithValues: [Weekday.mon, .tue, .wed, .thu, .fri].map { ($0, [BusinessCalendar.Opening("09:00-18:00")!]) }),
    holidays: [LocalDate("2027-01-01")!, LocalDate("2026-12-25")!])

@Suite("Business-time deadlines across time zones")
struct BusinessCalendarTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var zone: String
        var start: String
        var minutes: Int
        var due: String
        var note: String
        var testDescription: String { "\(zone) \(start) + \(minutes) business min → \(due) (\(note))" }
    }

    static let cases: [Case] = [
        // UTC.
        Case(zone: "UTC", start: "2026-11-24T10:00:00Z", minutes: 120, due: "2026-11-24T12:00:00Z", note: "inside open hours"),
        Case(zone: "UTC", start: "2026-11-24T07:00:00Z", minutes: 120, due: "2026-11-24T11:00:00Z", note: "before opening: starts at 09:00"),
        Case(zone: "UTC", start: "2026-11-24T17:00:00Z", minutes: 120, due: "2026-11-25T10:00:00Z", note: "runs over closing into the next morning"),
        Case(zone: "UTC", start: "2026-11-24T20:00:00Z", minutes: 30, due: "2026-11-25T09:30:00Z", note: "after closing"),
        Case(zone: "UTC", start: "2026-11-27T17:30:00Z", minutes: 60, due: "2026-11-30T09:30:00Z", note: "Friday into Monday"),
        Case(zone: "UTC", start: "2026-11-28T12:00:00Z", minutes: 60, due: "2026-11-30T10:00:00Z", note: "starts on a Saturday"),
        Case(zone: "UTC", start: "2026-12-24T17:00:00Z", minutes: 120, due: "2026-12-28T10:00:00Z", note: "Christmas Day holiday, then the weekend"),
        Case(zone: "UTC", start: "2026-12-31T18:30:00Z", minutes: 60, due: "2027-01-04T10:00:00Z", note: "New Year's Day holiday on a Friday"),
        Case(zone: "UTC", start: "2026-11-24T10:00:00Z", minutes: 0, due: "2026-11-24T10:00:00Z", note: "zero length"),
        Case(zone: "UTC", start: "2026-11-24T10:00:00Z", minutes: 540 * 5, due: "2026-12-01T10:00:00Z", note: "a whole working week"),
        // Shanghai (UTC+8).
        Case(zone: "Asia/Shanghai", start: "2026-11-24T17:30:00Z", minutes: 120, due: "2026-11-25T03:00:00Z", note: "01:30 local: next opening 09:00"),
        Case(zone: "Asia/Shanghai", start: "2026-11-27T09:30:00Z", minutes: 120, due: "2026-11-30T02:30:00Z", note: "Friday 17:30 local into Monday"),
        Case(zone: "Asia/Shanghai", start: "2026-11-24T02:00:00Z", minutes: 60, due: "2026-11-24T03:00:00Z", note: "10:00 local, inside"),
        // New York over its spring change (Sunday 8 March 2026): Friday 17:00 EST + 2 h → Monday 10:00 EDT.
        Case(zone: "America/New_York", start: "2026-03-06T22:00:00Z", minutes: 120, due: "2026-03-09T14:00:00Z", note: "over the spring change"),
        Case(zone: "America/New_York", start: "2026-11-02T14:00:00Z", minutes: 60, due: "2026-11-02T15:00:00Z", note: "09:00 EST the day after the autumn change"),
        // London: opening at 09:00 is 09:00 GMT in winter and 08:00 UTC in summer.
        Case(zone: "Europe/London", start: "2026-03-27T17:30:00Z", minutes: 60, due: "2026-03-30T08:30:00Z", note: "Friday GMT into Monday BST"),
        Case(zone: "Europe/London", start: "2026-10-23T16:30:00Z", minutes: 60, due: "2026-10-26T09:30:00Z", note: "Friday BST into Monday GMT"),
        Case(zone: "Europe/London", start: "2026-07-01T07:00:00Z", minutes: 30, due: "2026-07-01T08:30:00Z", note: "summer: opens 08:00 UTC"),
    ]

    @Test("deadline", arguments: cases)
    func deadline(_ testCase: Case) {
        let due = office.deadline(
            from: instant(testCase.start), adding: TimeInterval(testCase.minutes * 60), in: TimeZone(identifier: testCase.zone)!)
        #expect(rfc3339(due) == testCase.due)
    }

    @Test("24x7 is wall time, daylight-saving changes included")
    func alwaysOpen() {
        let london = TimeZone(identifier: "Europe/London")!
        #expect(rfc3339(BusinessCalendar.alwaysOpen.deadline(from: instant("2026-03-29T00:30:00Z"), adding: 3600, in: london)) == "2026-03-29T01:30:00Z")
        #expect(BusinessCalendar.alwaysOpen.businessTime(from: instant("2026-10-25T00:00:00Z"), to: instant("2026-10-25T03:00:00Z"), in: london) == 3 * 3600)
    }

    @Test("business time between two instants skips closed hours, weekends and holidays (a pause's length)")
    func businessTime() {
        let utc = TimeZone(identifier: "UTC")!
        // Paused Friday 17:00 to Monday 10:00: one hour Friday, one hour Monday.
        #expect(office.businessTime(from: instant("2026-11-27T17:00:00Z"), to: instant("2026-11-30T10:00:00Z"), in: utc) == 2 * 3600)
        // A pause entirely outside open hours costs nothing.
        #expect(office.businessTime(from: instant("2026-11-24T19:00:00Z"), to: instant("2026-11-25T08:00:00Z"), in: utc) == 0)
        // Over Christmas Day.
        #expect(office.businessTime(from: instant("2026-12-24T09:00:00Z"), to: instant("2026-12-28T09:00:00Z"), in: utc) == 9 * 3600)
        // The deadline and the business time agree.
        let start = instant("2026-11-26T15:00:00Z")
        let due = office.deadline(from: start, adding: 7 * 3600, in: utc)!
        #expect(office.businessTime(from: start, to: due, in: utc) == 7 * 3600)
    }

    @Test("several openings a day, with a lunch break, in Shanghai")
    func splitDay() {
        let lunch = BusinessCalendar(name: "split", hours: [.mon: [BusinessCalendar.Opening("14:00-18:00")!, BusinessCalendar.Opening("09:00-12:00")!]])
        let shanghai = TimeZone(identifier: "Asia/Shanghai")!
        // Monday 11:00 local + 2 h: one hour before lunch, one after.
        #expect(rfc3339(lunch.deadline(from: instant("2026-11-30T03:00:00Z"), adding: 7200, in: shanghai)) == "2026-11-30T07:00:00Z")
    }
}
