import Assignment
import ComplaintEvents
import Foundation
import HotelTime

/// Instants written as RFC 3339 in tests.
func instant(_ text: String) -> Date {
    guard let date = ISO8601DateFormatter().date(from: text) else { fatalError("bad instant \(text)") }
    return date
}

func shift(_ days: [Weekday], _ start: String, _ end: String, overnight: Bool = false) -> Shift {
    Shift(days: days, start: LocalTime(start)!, end: LocalTime(end)!, overnight: overnight)
}

let everyDay = Weekday.allCases
let weekdays: [Weekday] = [.mon, .tue, .wed, .thu, .fri]

/// A small hotel in `timeZone`: Housekeeping (3 agents on day shift, a supervisor, a head), Engineering
/// (one night agent), duty managers around the clock and a general manager on office hours.
func testHotel(_ id: String = "TST-HQ01", timeZone: String = "Asia/Shanghai", strategy: String = LeastLoadedStrategy.name) -> HotelOrganisation {
    let day = [shift(everyDay, "07:00", "19:00")]
    return HotelOrganisation(
        id: id, name: "Test Hotel", timeZone: timeZone, strategy: strategy,
        departments: [
            Department(code: "housekeeping", name: "Housekeeping", categories: [.cleanliness, .amenities]),
            Department(code: "engineering", name: "Engineering", categories: [.maintenance]),
            Department(code: "front_office", name: "Front Office", categories: [.noise, .frontDesk]),
        ],
        staff: [
            StaffMember(id: "HK-1", name: "Ana", role: .agent, departments: ["housekeeping"], languages: ["en"], skills: ["cleanliness"], capacity: 3, shifts: day),
            StaffMember(id: "HK-2", name: "Bo", role: .agent, departments: ["housekeeping"], languages: ["zh-CN", "en"], skills: [], capacity: 3, shifts: day),
            StaffMember(id: "HK-3", name: "Cai", role: .agent, departments: ["housekeeping"], languages: ["zh-CN"], skills: ["cleanliness", "vip"], capacity: 3, shifts: day),
            StaffMember(id: "HK-S", name: "Dana", role: .supervisor, departments: ["housekeeping"], languages: ["en"], skills: ["vip"], capacity: 2, shifts: day),
            StaffMember(id: "HK-H", name: "Eve", role: .departmentHead, departments: ["housekeeping"], capacity: 2, shifts: [shift(weekdays, "09:00", "18:00")]),
            StaffMember(id: "EN-1", name: "Fei", role: .agent, departments: ["engineering"], languages: ["zh-CN"], capacity: 2, shifts: [shift(everyDay, "22:00", "06:00", overnight: true)]),
            StaffMember(id: "DM-1", name: "Gao", role: .dutyManager, departments: [], capacity: 10, shifts: [shift(everyDay, "06:00", "18:00")]),
            StaffMember(id: "DM-2", name: "Hua", role: .dutyManager, departments: [], capacity: 10, shifts: [shift(everyDay, "18:00", "06:00", overnight: true)]),
            StaffMember(id: "GM-1", name: "Ivy", role: .generalManager, departments: [], capacity: 20, shifts: [shift(weekdays, "08:00", "19:00")]),
        ])
}

func facts(
    _ category: ComplaintCategory = .cleanliness, severity: Severity = .moderate, language: String = "en", vip: Bool = false,
    hotel: String = "TST-HQ01"
) -> ComplaintFacts {
    ComplaintFacts(
        complaintID: UUID(), hotelID: hotel, category: category, severity: severity, priority: severity == .serious ? 1 : 2,
        language: language, isVIP: vip, involvesSafety: false, registeredAt: instant("2026-12-02T02:00:00Z"))
}
