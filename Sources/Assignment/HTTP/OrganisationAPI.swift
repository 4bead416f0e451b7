import Access
import ComplaintEvents
import ComplaintPipeline
import Foundation
import HotelTime
import HTTPTypes
import Hummingbird
import Logging
import PostgresNIO

/// The HTTP API of assignment, documented in `services/assignment/openapi.yaml`: a hotel's organisation
/// (`/v1/hotels/{hotel}`, its `departments`, `staff`, `shifts`, who is `on-duty`) for manager and admin
/// keys of that hotel, and a complaint's assignment history for its hotel's staff.
///
/// Every change is checked by the same ``OrganisationRules`` as the file (422 naming the field, nothing
/// written), runs in one transaction on the assignment schema under the hotel's lock, and bumps the
/// hotel's revision so every replica uses it from its next assignment on.
public struct OrganisationAPI: Sendable {
    public var store: StageStore
    public var database: DatabaseGuard
    public var authentication: AuthenticationMiddleware
    public var organisations: OrganisationStore
    public var ledger: AssignmentLedger
    public var rules: OrganisationRules
    public var clock: @Sendable () -> Date = { Date() }
    let reader = RequestReader(maximumBodySize: 256 * 1024)

    public init(
        store: StageStore, database: DatabaseGuard, authentication: AuthenticationMiddleware, strategies: Set<String>,
        organisations: OrganisationStore = OrganisationStore(), ledger: AssignmentLedger = AssignmentLedger()
    ) {
        self.store = store
        self.database = database
        self.authentication = authentication
        self.organisations = organisations
        self.ledger = ledger
        self.rules = OrganisationRules(strategies: strategies)
    }

    public func addRoutes(to router: Router<RedressRequestContext>) {
        let hotels = router.group("v1/hotels").add(middleware: authentication)
        hotels.get { request, context in
            let caller = try context.caller(atLeast: .manager, for: request)
            let page = try HotelPageRequest(request.uri.queryParameters)
            return try await read { connection, logger in
                // One statement for the page (head counts included), not every hotel's whole organisation.
                let found = try await organisations.summaries(
                    of: caller.role == .admin ? nil : caller.hotels.sorted(), after: page.after, limit: page.limit + 1,
                    on: connection, logger: logger)
                let items = Array(found.prefix(page.limit))
                return HotelList(
                    hotels: items.map(HotelSummary.init),
                    nextCursor: found.count > page.limit ? items.last.map { HotelCursor(after: $0.id).token } : nil)
            }
        }
        hotels.get(":hotel") { request, context in
            let hotelID = try hotelParameter(request, context, role: .manager)
            guard let hotel = try await read({ try await organisations.read(hotelID, on: $0, logger: $1) }) else {
                throw Problem.notFound("no hotel \(hotelID) in the organisation")
            }
            return HotelDocument(hotel: hotel)
        }
        hotels.put(":hotel") { request, context in
            let hotelID = try hotelParameter(request, context, role: .manager)
            let body = try reader.decode(HotelSettings.self, from: try await reader.jsonBody(request)!)
            return try await changeSettings(hotelID, body)
        }
        hotels.get(":hotel/on-duty") { request, context in
            let hotelID = try hotelParameter(request, context, role: .manager)
            let now = clock()
            return try await read { connection, logger in
                guard let hotel = try await organisations.read(hotelID, on: connection, logger: logger) else {
                    throw Problem.notFound("no hotel \(hotelID) in the organisation")
                }
                let loads = try await ledger.openLoads(hotelID: hotelID, on: connection, logger: logger)
                let schedule = ShiftSchedule(timeZone: hotel.zone)
                let people = hotel.staff.compactMap { member -> OnDuty.Person? in
                    guard member.active, let shift = schedule.currentShift(of: member, at: now) else { return nil }
                    return OnDuty.Person(
                        staffId: member.id, name: member.name, role: member.role.rawValue, departments: member.departments,
                        openLoad: loads[member.id] ?? 0, capacity: member.capacity, shiftStart: shift.start, shiftEnd: shift.end)
                }
                return OnDuty(hotelId: hotelID, at: now, staff: people)
            }
        }
        addCollection(
            "departments", to: hotels, list: { $0.departments.map(AnyEncodable.init) },
            decode: { try reader.decode(Department.self, from: $0) }, key: { $0.code },
            check: { department, hotel in
                var issues = rules.check(department, at: [])
                for (index, category) in department.categories.enumerated() {
                    if let other = hotel.department(for: category), other.code != department.code {
                        issues.append(.init([.key("categories"), .index(index)], "\(category.rawValue) is already routed to \(other.code)"))
                    }
                }
                return issues
            },
            save: { department, hotel, connection, logger in
                try await organisations.save(department, hotelID: hotel.id, on: connection, logger: logger)
                return AnyEncodable(department)
            },
            conflictOnDelete: { code, hotel, _, _ in
                let members = hotel.staff.filter { $0.departments.contains(code) }.map(\.id)
                return members.isEmpty ? nil : "staff still belong to \(code): \(members.prefix(10).joined(separator: ", "))"
            },
            delete: { code in .department(code) })
        addCollection(
            "staff", to: hotels, list: { $0.staff.map(AnyEncodable.init) },
            decode: { try reader.decode(StaffBody.self, from: $0) }, key: { $0.member.id },
            check: { body, hotel in rules.check(body.member, departments: Set(hotel.departments.map(\.code)), at: []) },
            save: { body, hotel, connection, logger in
                var member = body.member
                // Without `shifts` in the body the stored shifts stay.
                if !body.replacesShifts { member.shifts = hotel.member(member.id)?.shifts ?? [] }
                // Shift ids are the service's: a body's ids are replaced, so no two shifts can share one.
                if body.replacesShifts { member.shifts = member.shifts.map { var shift = $0; shift.id = UUID(); return shift } }
                try await organisations.save(member, hotelID: hotel.id, on: connection, logger: logger)
                return AnyEncodable(member)
            },
            // Their open complaints would be left with someone who no longer exists: nobody would be
            // told, and nothing would move them until an SLA escalation.
            conflictOnDelete: { staffID, hotel, connection, logger in
                let open = try await organisations.openComplaints(of: staffID, hotelID: hotel.id, limit: 10, on: connection, logger: logger)
                return open.isEmpty ? nil
                    : "\(staffID) still owns open complaints (\(open.map(\.lowercasedString).joined(separator: ", "))\(open.count == 10 ? ", …" : "")); "
                        + "set active: false to stop new ones, and delete them once those are resolved"
            },
            delete: { staffID in .staff(staffID) })
        addShifts(to: hotels)

        let complaints = router.group("v1/complaints").add(middleware: authentication)
        complaints.get(":id/assignments") { request, context in
            let caller = try context.caller(atLeast: .staff, for: request)
            let id = try reader.uuidParameter("id", context, resource: "complaint")
            let history = try await read { try await ledger.history(of: id, on: $0, logger: $1) }
            // Another hotel's complaint is answered exactly like a missing one.
            guard let history, caller.covers(hotel: history.hotelID) else {
                throw Problem.notFound("no assignments of complaint \(id.lowercasedString)")
            }
            return AssignmentHistory(complaintId: id.lowercasedString, hotelId: history.hotelID, assignments: history.entries)
        }
    }

    // MARK: Collections

    /// `GET`/`POST /v1/hotels/{hotel}/<name>` and `PUT`/`DELETE …/<name>/{key}` for departments and staff.
    private func addCollection<Item: Sendable>(
        _ name: String, to hotels: RouterGroup<RedressRequestContext>,
        list: @escaping @Sendable (HotelOrganisation) -> [AnyEncodable],
        decode: @escaping @Sendable ([UInt8]) throws -> Item,
        key: @escaping @Sendable (Item) -> String,
        check: @escaping @Sendable (Item, HotelOrganisation) -> [OrganisationIssue],
        save: @escaping @Sendable (Item, HotelOrganisation, PostgresConnection, Logger) async throws -> AnyEncodable,
        conflictOnDelete: @escaping @Sendable (String, HotelOrganisation, PostgresConnection, Logger) async throws -> String?,
        delete: @escaping @Sendable (String) -> OrganisationStore.Item
    ) {
        hotels.get(":hotel/\(name)") { request, context in
            let hotelID = try hotelParameter(request, context, role: .manager)
            guard let hotel = try await read({ try await organisations.read(hotelID, on: $0, logger: $1) }) else {
                throw Problem.notFound("no hotel \(hotelID) in the organisation")
            }
            return ItemList(items: list(hotel))
        }
        @Sendable func upsert(_ request: Request, _ context: RedressRequestContext, pathKey: String?) async throws -> EditedResponse<AnyEncodable> {
            let hotelID = try hotelParameter(request, context, role: .manager)
            let item = try decode(try await reader.jsonBody(request)!)
            if let pathKey, key(item) != pathKey {
                throw Problem.validation(field: name == "staff" ? "id" : "code", rule: "must equal \(pathKey) from the path")
            }
            let (saved, created) = try await change(hotelID) { hotel, connection, logger in
                if let issue = check(item, hotel).first { throw Problem.validation(field: issue.path.description, rule: issue.rule) }
                let existed = Self.contains(hotel, name: name, key: key(item))
                return (try await save(item, hotel, connection, logger), !existed)
            }
            return EditedResponse(status: created ? .created : .ok, response: saved)
        }
        hotels.post(":hotel/\(name)") { request, context in try await upsert(request, context, pathKey: nil) }
        hotels.put(":hotel/\(name)/:key") { request, context in
            try await upsert(request, context, pathKey: context.parameters.get("key") ?? "")
        }
        hotels.delete(":hotel/\(name)/:key") { request, context in
            let hotelID = try hotelParameter(request, context, role: .manager)
            let itemKey = context.parameters.get("key") ?? ""
            try await change(hotelID) { hotel, connection, logger in
                if let conflict = try await conflictOnDelete(itemKey, hotel, connection, logger) {
                    throw Problem(.conflict, type: "in-use", title: "Still in use", detail: conflict)
                }
                guard try await organisations.delete(delete(itemKey), hotelID: hotelID, on: connection, logger: logger) else {
                    throw Problem.notFound("no \(name == "staff" ? "staff member" : "department") \(itemKey) at \(hotelID)")
                }
            }
            return Response(status: .noContent)
        }
    }

    private static func contains(_ hotel: HotelOrganisation, name: String, key: String) -> Bool {
        name == "staff" ? hotel.member(key) != nil : hotel.department(key) != nil
    }

    /// `GET`/`POST /v1/hotels/{hotel}/shifts` and `DELETE …/shifts/{shiftId}`.
    private func addShifts(to hotels: RouterGroup<RedressRequestContext>) {
        hotels.get(":hotel/shifts") { request, context in
            let hotelID = try hotelParameter(request, context, role: .manager)
            guard let hotel = try await read({ try await organisations.read(hotelID, on: $0, logger: $1) }) else {
                throw Problem.notFound("no hotel \(hotelID) in the organisation")
            }
            return ItemList(items: hotel.staff.flatMap { member in member.shifts.map { AnyEncodable(StaffShift(staffId: member.id, shift: $0)) } })
        }
        hotels.post(":hotel/shifts") { request, context in
            let hotelID = try hotelParameter(request, context, role: .manager)
            let body = try reader.decode(StaffShift.self, from: try await reader.jsonBody(request)!)
            let saved = try await change(hotelID) { hotel, connection, logger in
                guard hotel.member(body.staffId) != nil else {
                    throw Problem.validation(field: "staffId", rule: "\(body.staffId) is not a staff member of \(hotelID)")
                }
                if let issue = rules.check(body.shift, at: []).first {
                    throw Problem.validation(field: issue.path.description, rule: issue.rule)
                }
                var shift = body.shift
                shift.id = UUID()
                try await organisations.add(shift, hotelID: hotelID, staffID: body.staffId, on: connection, logger: logger)
                return StaffShift(staffId: body.staffId, shift: shift)
            }
            return EditedResponse(status: .created, response: saved)
        }
        hotels.delete(":hotel/shifts/:shiftId") { request, context in
            let hotelID = try hotelParameter(request, context, role: .manager)
            let shiftID = try reader.uuidParameter("shiftId", context, resource: "shift")
            try await change(hotelID) { _, connection, logger in
                guard try await organisations.delete(.shift(shiftID), hotelID: hotelID, on: connection, logger: logger) else {
                    throw Problem.notFound("no shift \(shiftID.lowercasedString) at \(hotelID)")
                }
            }
            return Response(status: .noContent)
        }
    }

    // MARK: Hotel settings

    private func changeSettings(_ hotelID: String, _ body: HotelSettings) async throws -> EditedResponse<HotelDocument> {
        let organisations = self.organisations
        let rules = self.rules
        let (document, created) = try await database.run {
            try await store.write { connection, logger in
                var existing = try await organisations.lockRevision(of: hotelID, on: connection, logger: logger) != nil
                if !existing {
                    // Another request (or the file) may be creating it: wait for it, then change what it made.
                    try await organisations.lockCreation(of: [hotelID], on: connection, logger: logger)
                    existing = try await organisations.lockRevision(of: hotelID, on: connection, logger: logger) != nil
                }
                var hotel = try await organisations.read(hotelID, on: connection, logger: logger)
                    ?? HotelOrganisation(id: hotelID, name: body.name ?? hotelID, timeZone: body.timeZone ?? "", departments: [], staff: [])
                if let name = body.name { hotel.name = name }
                if let timeZone = body.timeZone { hotel.timeZone = timeZone }
                if let strategy = body.strategy { hotel.strategy = strategy }
                if let escalation = body.escalation { hotel.escalation = escalation }
                if !existing && body.timeZone == nil {
                    throw Problem.validation(field: "timeZone", rule: "is required to create hotel \(hotelID)")
                }
                if let issue = rules.checkSettings(hotel, at: []).first {
                    throw Problem.validation(field: issue.path.description == "id" ? "path.hotel" : issue.path.description, rule: issue.rule)
                }
                if existing {
                    try await organisations.updateSettings(hotel, on: connection, logger: logger)
                } else {
                    try await organisations.saveSettings(hotel, fileDigest: nil, on: connection, logger: logger)
                }
                return ((HotelDocument(hotel: hotel), !existing), [])
            }
        }
        return EditedResponse(status: created ? .created : .ok, response: document)
    }

    // MARK: Plumbing

    /// The `{hotel}` of the path, if the caller's role is at least `role` and their key covers it (403 otherwise).
    private func hotelParameter(_ request: Request, _ context: RedressRequestContext, role: AccessRole) throws(Problem) -> String {
        let caller = try context.caller(atLeast: role, for: request)
        let hotelID = context.parameters.get("hotel") ?? ""
        guard caller.covers(hotel: hotelID) else {
            throw Problem.forbidden("this key is not scoped to hotel \(hotelID)")
        }
        return hotelID
    }

    private func read<Result: Sendable>(_ body: @escaping @Sendable (PostgresConnection, Logger) async throws -> Result) async throws -> Result {
        let store = self.store
        return try await database.run { try await store.read(body) }
    }

    /// Runs `body` on the hotel, locked, in one transaction, then bumps its revision. An unknown hotel is
    /// a 422 on `path.hotel`: departments, staff and shifts need their hotel first.
    @discardableResult
    private func change<Result: Sendable>(
        _ hotelID: String, _ body: @escaping @Sendable (HotelOrganisation, PostgresConnection, Logger) async throws -> Result
    ) async throws -> Result {
        let store = self.store
        let organisations = self.organisations
        return try await database.run {
            try await store.write { connection, logger in
                guard try await organisations.lockRevision(of: hotelID, on: connection, logger: logger) != nil,
                      let hotel = try await organisations.read(hotelID, on: connection, logger: logger)
                else {
                    throw Problem.validation(field: "path.hotel", rule: "\(hotelID) is not a hotel of the organisation; create it first with PUT /v1/hotels/\(hotelID)")
                }
                let result = try await body(hotel, connection, logger)
                try await organisations.touch(hotelID, on: connection, logger: logger)
                return (result, [])
            }
        }
    }

}

// MARK: Bodies and responses

/// `PUT /v1/hotels/{hotel}`: what may change (all optional; `timeZone` is required to create).
struct HotelSettings: Decodable, Sendable {
    var name: String?
    var timeZone: String?
    var strategy: String?
    var escalation: [EscalationRole]?
}

/// A staff member as `POST`/`PUT …/staff` send it. `shifts` absent: the stored shifts stay; a list
/// (`[]` included) replaces them all; `null` is not an array, so the contract's decoder answers it with
/// a 422 on `shifts` before anything is written. Whether `shifts` was sent is read in the same decoding
/// pass as the member, never from a second parse of the body.
struct StaffBody: Decodable, Sendable {
    var member: StaffMember
    var replacesShifts: Bool

    private enum CodingKeys: String, CodingKey { case shifts }

    init(from decoder: any Decoder) throws {
        member = try StaffMember(from: decoder)
        replacesShifts = try decoder.container(keyedBy: CodingKeys.self).contains(.shifts)
    }
}

/// A shift with the staff member it belongs to (`/shifts`).
struct StaffShift: Codable, Sendable, ResponseEncodable {
    var staffId: String
    var shift: Shift

    init(staffId: String, shift: Shift) {
        self.staffId = staffId
        self.shift = shift
    }

    enum CodingKeys: String, CodingKey { case staffId }

    init(from decoder: any Decoder) throws {
        staffId = try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .staffId)
        shift = try Shift(from: decoder)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(staffId, forKey: .staffId)
        try shift.encode(to: encoder)
    }
}

struct HotelSummary: Encodable, Sendable {
    var id: String
    var name: String
    var timeZone: String
    var strategy: String
    var departments: Int
    var staff: Int

    init(_ summary: OrganisationStore.HotelSummary) {
        id = summary.id
        name = summary.name
        timeZone = summary.timeZone
        strategy = summary.strategy
        departments = summary.departments
        staff = summary.staff
    }
}

/// A page of `GET /v1/hotels`, by hotel id.
struct HotelList: Encodable, Sendable, ResponseEncodable {
    var hotels: [HotelSummary]
    var nextCursor: String?

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(hotels, forKey: .hotels)
        // Always present, `null` on the last page, as intake's list says it.
        try container.encode(nextCursor, forKey: .nextCursor)
    }

    enum CodingKeys: String, CodingKey { case hotels, nextCursor }
}

/// `limit` (1–200, default 50) and `cursor` (the `nextCursor` of the previous page) of `GET /v1/hotels`,
/// read as intake reads its list's (``Access/QueryParameters``): an unknown parameter, a value with a NUL
/// or a bad value is a 422 naming `query.<name>`; a repeated parameter counts once, with its first value.
struct HotelPageRequest: Sendable {
    var limit = 50
    var after: String?

    init(_ query: some Sequence<(key: Substring, value: Substring)>) throws(Problem) {
        let parameters = QueryParameters(query, known: ["limit", "cursor"])
        var errors = parameters.errors
        if let text = parameters["limit"] {
            if let limit = Int(text), (1...200).contains(limit) { self.limit = limit } else {
                errors.append(.init(field: "query.limit", rule: "an integer from 1 to 200"))
            }
        }
        if let text = parameters["cursor"] {
            if let cursor = HotelCursor(token: text) { after = cursor.after } else {
                errors.append(.init(field: "query.cursor", rule: "a nextCursor value from an earlier page"))
            }
        }
        if !errors.isEmpty { throw Problem.validation(errors) }
    }
}

/// Where a page of hotels ends: opaque to clients (base64url of `{"after": hotel id}`), like intake's cursors.
struct HotelCursor: Codable, Sendable, Hashable {
    var after: String

    init(after: String) {
        self.after = after
    }

    var token: String {
        let data = (try? JSONEncoder().encode(self)) ?? Data()
        return data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    init?(token: String) {
        var base64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard token.count <= 256, let data = Data(base64Encoded: base64),
              let cursor = try? JSONDecoder().decode(HotelCursor.self, from: data),
              !cursor.after.isEmpty, !cursor.after.unicodeScalars.contains("\0")
        else { return nil }
        self = cursor
    }
}

struct HotelDocument: Encodable, Sendable, ResponseEncodable {
    var hotel: HotelOrganisation

    func encode(to encoder: any Encoder) throws { try hotel.encode(to: encoder) }
}

struct ItemList: Encodable, Sendable, ResponseEncodable {
    var items: [AnyEncodable]
}

struct OnDuty: Encodable, Sendable, ResponseEncodable {
    struct Person: Encodable, Sendable {
        var staffId: String
        var name: String
        var role: String
        var departments: [String]
        var openLoad: Int
        var capacity: Int
        var shiftStart: Date
        var shiftEnd: Date
    }

    var hotelId: String
    var at: Date
    var staff: [Person]
}

struct AssignmentHistory: Encodable, Sendable, ResponseEncodable {
    var complaintId: String
    var hotelId: String
    var assignments: [AssignmentLedger.Entry]
}

/// Any of the organisation's values as a response body.
struct AnyEncodable: Encodable, Sendable, ResponseEncodable {
    let value: any Encodable & Sendable

    init(_ value: any Encodable & Sendable) {
        self.value = value
    }

    func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
}
