import ComplaintEvents
import ComplaintPipeline
import Foundation
import HotelTime

/// One rule a piece of the organisation breaks, at a path inside the document or request body.
public struct OrganisationIssue: Sendable, Hashable, CustomStringConvertible {
    public var path: FieldPath
    public var rule: String

    public init(_ path: [FieldPath.Component], _ rule: String) {
        self.path = FieldPath(path)
        self.rule = rule
    }

    public var description: String { "\(path): \(rule)" }
}

/// The rules of the organisation model, shared by the file loader (errors name line and field) and the
/// HTTP API (422 naming the field): a check never differs between the two doors.
public struct OrganisationRules: Sendable {
    /// Strategy names departments and hotels may choose.
    public var strategies: Set<String>

    public init(strategies: Set<String>) {
        self.strategies = strategies
    }

    /// The whole organisation: each hotel, ids unique across the file.
    public func check(_ organisation: Organisation) -> [OrganisationIssue] {
        var issues: [OrganisationIssue] = []
        if let dispatcher = organisation.dispatcher {
            issues += check(dispatcher, at: [.key("dispatcher")])
        }
        var seen: Set<String> = []
        for (index, hotel) in organisation.hotels.enumerated() {
            let path: [FieldPath.Component] = [.key("hotels"), .index(index)]
            if !seen.insert(hotel.id).inserted { issues.append(.init(path + [.key("id")], "hotel \(hotel.id) is listed twice")) }
            issues += check(hotel, at: path)
        }
        return issues
    }

    public func check(_ dispatcher: DispatcherSettings, at path: [FieldPath.Component]) -> [OrganisationIssue] {
        var issues: [OrganisationIssue] = []
        let url = URL(string: dispatcher.url)
        if !["http", "https"].contains(url?.scheme ?? "") || url?.host == nil {
            issues.append(.init(path + [.key("url")], "must be an http or https URL"))
        }
        if !(1...60_000).contains(dispatcher.timeoutMilliseconds) {
            issues.append(.init(path + [.key("timeoutMs")], "must be between 1 and 60000 milliseconds"))
        }
        if dispatcher.fallback == DispatcherStrategy.name || !strategies.contains(dispatcher.fallback) {
            issues.append(.init(path + [.key("fallback")], "must be a built-in strategy: \(builtIns)"))
        }
        return issues
    }

    /// A hotel with everything in it.
    public func check(_ hotel: HotelOrganisation, at path: [FieldPath.Component]) -> [OrganisationIssue] {
        var issues = checkSettings(hotel, at: path)
        var codes: Set<String> = []
        var routed: [ComplaintCategory: String] = [:]
        for (index, department) in hotel.departments.enumerated() {
            let departmentPath = path + [.key("departments"), .index(index)]
            issues += check(department, at: departmentPath)
            if !codes.insert(department.code).inserted {
                issues.append(.init(departmentPath + [.key("code")], "department \(department.code) is listed twice"))
            }
            for (categoryIndex, category) in department.categories.enumerated() {
                if let other = routed[category], other != department.code {
                    issues.append(.init(
                        departmentPath + [.key("categories"), .index(categoryIndex)],
                        "\(category.rawValue) is already routed to \(other)"))
                }
                routed[category] = department.code
            }
        }
        var ids: Set<String> = []
        for (index, member) in hotel.staff.enumerated() {
            let memberPath = path + [.key("staff"), .index(index)]
            issues += check(member, departments: codes, at: memberPath)
            if !ids.insert(member.id).inserted { issues.append(.init(memberPath + [.key("id")], "staff id \(member.id) is listed twice")) }
        }
        return issues
    }

    /// A hotel's own settings (what `PUT /v1/hotels/{hotel}` changes).
    public func checkSettings(_ hotel: HotelOrganisation, at path: [FieldPath.Component]) -> [OrganisationIssue] {
        var issues: [OrganisationIssue] = []
        if !TextPattern.identifier.matches(hotel.id) { issues.append(.init(path + [.key("id")], "must be \(TextPattern.identifier.meaning)")) }
        issues += text(hotel.name, at: path + [.key("name")])
        if TimeZone(identifier: hotel.timeZone) == nil || !TimeZone.knownTimeZoneIdentifiers.contains(hotel.timeZone) && hotel.timeZone != "UTC" {
            issues.append(.init(path + [.key("timeZone")], "must be an IANA time zone such as Asia/Shanghai or Europe/London"))
        }
        if !strategies.contains(hotel.strategy) {
            issues.append(.init(path + [.key("strategy")], "must be one of \(strategies.sorted().joined(separator: ", "))"))
        }
        if hotel.escalation.count != 3 {
            issues.append(.init(path + [.key("escalation")], "must name the roles of levels 1, 2 and 3 (three entries)"))
        }
        return issues
    }

    public func check(_ department: Department, at path: [FieldPath.Component]) -> [OrganisationIssue] {
        var issues: [OrganisationIssue] = []
        if !TextPattern.code.matches(department.code) { issues.append(.init(path + [.key("code")], "must be \(TextPattern.code.meaning)")) }
        issues += text(department.name, at: path + [.key("name")])
        if let strategy = department.strategy, !strategies.contains(strategy) {
            issues.append(.init(path + [.key("strategy")], "must be one of \(strategies.sorted().joined(separator: ", "))"))
        }
        if Set(department.categories).count != department.categories.count {
            issues.append(.init(path + [.key("categories")], "lists a category twice"))
        }
        return issues
    }

    /// A staff member of a hotel whose department codes are `departments`.
    public func check(_ member: StaffMember, departments: Set<String>, at path: [FieldPath.Component]) -> [OrganisationIssue] {
        var issues: [OrganisationIssue] = []
        if !TextPattern.identifier.matches(member.id) { issues.append(.init(path + [.key("id")], "must be \(TextPattern.identifier.meaning)")) }
        issues += text(member.name, at: path + [.key("name")])
        if member.capacity < 0 {
            issues.append(.init(path + [.key("capacity")], "must not be below zero"))
        } else if member.capacity > 1000 {
            issues.append(.init(path + [.key("capacity")], "must be at most 1000"))
        }
        for (index, code) in member.departments.enumerated() where !departments.contains(code) {
            issues.append(.init(path + [.key("departments"), .index(index)], "\(code) is not a department of this hotel"))
        }
        if member.departments.isEmpty && member.role < .dutyManager {
            issues.append(.init(path + [.key("departments")], "a \(member.role.words) must belong to at least one department"))
        }
        for (index, language) in member.languages.enumerated() where !TextPattern.language.matches(language) {
            issues.append(.init(path + [.key("languages"), .index(index)], "must be \(TextPattern.language.meaning)"))
        }
        for (index, skill) in member.skills.enumerated() where !TextPattern.code.matches(skill) {
            issues.append(.init(path + [.key("skills"), .index(index)], "must be \(TextPattern.code.meaning)"))
        }
        for (index, shift) in member.shifts.enumerated() {
            issues += check(shift, at: path + [.key("shifts"), .index(index)])
        }
        return issues
    }

    public func check(_ shift: Shift, at path: [FieldPath.Component]) -> [OrganisationIssue] {
        var issues: [OrganisationIssue] = []
        if shift.days.isEmpty { issues.append(.init(path + [.key("days")], "must name at least one weekday")) }
        if Set(shift.days).count != shift.days.count { issues.append(.init(path + [.key("days")], "lists a weekday twice")) }
        if shift.start.hour == 24 { issues.append(.init(path + [.key("start")], "must be 00:00 to 23:59 (24:00 is an end only)")) }
        if shift.overnight {
            if shift.end > shift.start {
                issues.append(.init(path + [.key("end")], "an overnight shift ends the next day, at or before its start time; this one would last over 24 hours"))
            }
        } else if shift.end <= shift.start {
            issues.append(.init(path + [.key("end")], "ends before it starts (\(shift.end) is not after \(shift.start)); set overnight: true for a shift that crosses midnight"))
        }
        return issues
    }

    /// A name: not blank, at most 200 characters, no NUL (the same rule and words as the JSON decoder's).
    private func text(_ value: String, at path: [FieldPath.Component]) -> [OrganisationIssue] {
        let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty { return [.init(path, "must not be empty")] }
        if value.unicodeScalars.count > 200 { return [.init(path, "longer than 200 characters")] }
        // The HTTP API's decoder refuses NUL already; a YAML file can hold one ("\0"), and PostgreSQL text cannot.
        if value.unicodeScalars.contains("\0") { return [.init(path, "must not contain \\u0000 (NUL)")] }
        return []
    }

    private var builtIns: String {
        strategies.subtracting([DispatcherStrategy.name]).sorted().joined(separator: ", ")
    }
}
