import Assignment
import ComplaintPipeline
import Foundation
import HotelTime
import Testing

@Suite("The organisation file")
struct OrganisationFileTests {
    static let strategies = StrategyRegistry().names

    static var shippedPath: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(OrganisationFile.defaultPath).path
    }

    @Test("the shipped file loads: every demo and example hotel, every category routed, the example staff present")
    func shipped() throws {
        let organisation = try OrganisationFile.load(contentsOf: Self.shippedPath, strategies: Self.strategies)
        #expect(Set(organisation.hotels.map(\.id)) == ["SHA-PD01", "BJS-CY02", "LON-KX02"])
        for hotel in organisation.hotels {
            for category in ComplaintCategoryList.all {
                #expect(hotel.department(for: category) != nil, "\(hotel.id) routes \(category.rawValue)")
            }
            #expect(hotel.staff.contains { $0.role == .generalManager })
            #expect(hotel.staff.filter { $0.role == .dutyManager }.count >= 1)
        }
        let shanghai = try #require(organisation.hotel("SHA-PD01"))
        #expect(shanghai.member("SHA-ENG-017")?.name == "王建国")
        #expect(shanghai.department("housekeeping")?.strategy == "round_robin")
        let london = try #require(organisation.hotel("LON-KX02"))
        #expect(london.member("LON-SEC-004")?.role == .supervisor)
        #expect(london.department(for: .noise)?.code == "security")
        #expect(london.zone.identifier == "Europe/London")
    }

    static let valid = """
        hotels:
          - id: TST-HQ01
            timeZone: Asia/Shanghai
            departments:
              - code: housekeeping
            staff:
              - id: HK-1
                name: Ana
                role: agent
                departments: [housekeeping]
                capacity: 3
                shifts:
                  - days: [mon, tue]
                    start: "07:00"
                    end: "15:00"
        """

    @Test("a department without categories takes the defaults for its code; omitted settings take theirs")
    func defaults() throws {
        let organisation = try OrganisationFile.load(ConfigurationFile(text: Self.valid, path: "org.yaml"), strategies: Self.strategies)
        let hotel = try #require(organisation.hotel("TST-HQ01"))
        #expect(hotel.department("housekeeping")?.categories == [.cleanliness, .amenities])
        #expect(hotel.department("housekeeping")?.name == "Housekeeping")
        #expect(hotel.strategy == "least_loaded")
        #expect(hotel.escalation == [.departmentHead, .dutyManager, .generalManager])
        #expect(hotel.staff[0].active)
    }

    struct Broken: Sendable, CustomTestStringConvertible {
        var replace: String
        var with: String
        var message: String
        var testDescription: String { message }
    }

    static let broken: [Broken] = [
        Broken(replace: "capacity: 3", with: "capacity: -1", message: "org.yaml:11: hotels[0].staff[0].capacity: must not be below zero"),
        Broken(replace: "end: \"15:00\"", with: "end: \"06:00\"",
               message: "org.yaml:15: hotels[0].staff[0].shifts[0].end: ends before it starts (06:00 is not after 07:00); set overnight: true for a shift that crosses midnight"),
        Broken(replace: "timeZone: Asia/Shanghai", with: "timeZone: Asia/Shanghia",
               message: "org.yaml:3: hotels[0].timeZone: must be an IANA time zone such as Asia/Shanghai or Europe/London"),
        Broken(replace: "departments: [housekeeping]", with: "departments: [laundry]",
               message: "org.yaml:10: hotels[0].staff[0].departments[0]: laundry is not a department of this hotel"),
        Broken(replace: "role: agent", with: "role: boss",
               message: "org.yaml:9: hotels[0].staff[0].role: must be one of agent, supervisor, department_head, duty_manager, general_manager"),
        Broken(replace: "    capacity: 3", with: "    capacity: 3\n        shift: night",
               message: "org.yaml:12: hotels[0].staff[0].shift: is not a known setting (expected one of active, capacity, daysOff, departments, id, languages, name, role, shifts, skills)"),
        Broken(replace: "start: \"07:00\"", with: "start: \"7am\"",
               message: "org.yaml:14: hotels[0].staff[0].shifts[0].start: must be a time HH:MM such as 07:00"),
        Broken(replace: "start: \"07:00\"", with: "start: \"24:00\"",
               message: "org.yaml:14: hotels[0].staff[0].shifts[0].start: must be 00:00 to 23:59 (24:00 is an end only)"),
        Broken(replace: "days: [mon, tue]", with: "days: [mon, tuesday]",
               message: "org.yaml:13: hotels[0].staff[0].shifts[0].days[1]: must be one of mon, tue, wed, thu, fri, sat, sun"),
        Broken(replace: "  - code: housekeeping", with: "  - code: housekeeping\n        strategy: fastest",
               message: "org.yaml:6: hotels[0].departments[0].strategy: must be one of http, language_skill, least_loaded, round_robin"),
        // A NUL ("\0" in a double-quoted YAML string) in a name: PostgreSQL text cannot hold it (it failed the start-up at the insert).
        Broken(replace: "name: Ana", with: #"name: "A\0na""#,
               message: #"org.yaml:8: hotels[0].staff[0].name: must not contain \u0000 (NUL)"#),
        Broken(replace: "timeZone: Asia/Shanghai", with: "timeZone: Asia/Shanghai\n    name: \"Head\\0quarters\"",
               message: #"org.yaml:4: hotels[0].name: must not contain \u0000 (NUL)"#),
        Broken(replace: "  - code: housekeeping", with: "  - code: housekeeping\n        name: \"House\\0keeping\"",
               message: #"org.yaml:6: hotels[0].departments[0].name: must not contain \u0000 (NUL)"#),
    ]

    @Test("a broken file names the line and the field", arguments: broken)
    func errors(_ broken: Broken) throws {
        #expect(Self.valid.contains(broken.replace))
        let text = Self.valid.replacingOccurrences(of: broken.replace, with: broken.with)
        #expect(throws: ConfigurationFileError.self) {
            try OrganisationFile.load(ConfigurationFile(text: text, path: "org.yaml"), strategies: Self.strategies)
        }
        do {
            _ = try OrganisationFile.load(ConfigurationFile(text: text, path: "org.yaml"), strategies: Self.strategies)
        } catch {
            #expect(error.description == broken.message)
        }
    }

    @Test("a digest changes when, and only when, the hotel's section changes")
    func digest() throws {
        let first = try OrganisationFile.load(ConfigurationFile(text: Self.valid, path: "a"), strategies: Self.strategies)
        let same = try OrganisationFile.load(ConfigurationFile(text: "# a comment\n" + Self.valid, path: "b"), strategies: Self.strategies)
        let changed = try OrganisationFile.load(
            ConfigurationFile(text: Self.valid.replacingOccurrences(of: "capacity: 3", with: "capacity: 4"), path: "c"), strategies: Self.strategies)
        #expect(OrganisationFile.digest(of: first.hotels[0]) == OrganisationFile.digest(of: same.hotels[0]))
        #expect(OrganisationFile.digest(of: first.hotels[0]) != OrganisationFile.digest(of: changed.hotels[0]))
    }
}

import ComplaintEvents

enum ComplaintCategoryList {
    static let all = ComplaintCategory.allCases
}
