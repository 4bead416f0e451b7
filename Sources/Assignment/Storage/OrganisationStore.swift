import ComplaintEvents
import ComplaintStore
import Foundation
import HotelTime
import Logging
import PostgresNIO
import Synchronization

/// The organisation in the assignment schema: reads a hotel, replaces it from the file, and applies the
/// API's changes, each bumping the hotel's revision so every replica's cached copy is reloaded.
public struct OrganisationStore: Sendable {
    private let cache = OrganisationCache()

    public init() {}

    /// The hotel's revision, locked for the rest of the transaction (`FOR UPDATE`): assignments of one
    /// hotel are serialised by it, so capacity and round-robin turns hold across replicas.
    public func lockRevision(of hotelID: String, on connection: PostgresConnection, logger: Logger) async throws -> Int64? {
        let rows = try await connection.query(
            "SELECT revision FROM hotels WHERE hotel_id = \(hotelID) FOR UPDATE", logger: logger)
        for try await revision in rows.decode(Int64.self) { return revision }
        return nil
    }

    /// Locks several hotels for the rest of the transaction, in the order given (sort them: every
    /// transaction that locks more than one hotel must take them in one order).
    public func lock(_ hotelIDs: [String], on connection: PostgresConnection, logger: Logger) async throws {
        guard !hotelIDs.isEmpty else { return }
        // Rows are locked as the sorted result comes out of the sort, so in `hotel_id` order.
        _ = try await connection.query(
            "SELECT hotel_id FROM hotels WHERE hotel_id = ANY(\(hotelIDs)::text[]) ORDER BY hotel_id FOR UPDATE", logger: logger
        ).collect()
    }

    /// Serialises the transactions that may create these hotels (the API's `PUT /v1/hotels/{hotel}`,
    /// a replica applying the organisation file): a hotel with no row yet has nothing `FOR UPDATE`
    /// can lock, so two creations would each insert and the second overwrite the first's settings.
    /// Sort several ids, as for ``lock(_:on:logger:)``.
    public func lockCreation(of hotelIDs: [String], on connection: PostgresConnection, logger: Logger) async throws {
        try await SubjectLock.acquire(hotelIDs, keySpace: "redress.assignment.hotel-creation", on: connection, logger: logger)
    }

    /// The hotel's revision, unlocked.
    public func revision(of hotelID: String, on connection: PostgresConnection, logger: Logger) async throws -> Int64? {
        let rows = try await connection.query("SELECT revision FROM hotels WHERE hotel_id = \(hotelID)", logger: logger)
        for try await revision in rows.decode(Int64.self) { return revision }
        return nil
    }

    /// The hotel at `revision`, from the cache when this process has read that revision before.
    public func hotel(_ hotelID: String, revision: Int64, on connection: PostgresConnection, logger: Logger) async throws -> HotelOrganisation? {
        if let cached = cache.hotel(hotelID, revision: revision) { return cached }
        guard let hotel = try await read(hotelID, on: connection, logger: logger) else { return nil }
        cache.store(hotel, revision: revision)
        return hotel
    }

    /// The hotel as stored now (no cache).
    public func read(_ hotelID: String, on connection: PostgresConnection, logger: Logger) async throws -> HotelOrganisation? {
        let hotelRows = try await connection.query(
            "SELECT name, time_zone, strategy, escalation FROM hotels WHERE hotel_id = \(hotelID)", logger: logger)
        var settings: (String, String, String, [String])?
        for try await row in hotelRows.decode((String, String, String, [String]).self) { settings = row }
        guard let (name, timeZone, strategy, escalation) = settings else { return nil }

        var departments: [Department] = []
        let departmentRows = try await connection.query("""
            SELECT code, name, categories, strategy FROM departments WHERE hotel_id = \(hotelID) ORDER BY code
            """, logger: logger)
        for try await (code, name, categories, strategy) in departmentRows.decode((String, String, [String], String?).self) {
            departments.append(Department(
                code: code, name: name, categories: categories.compactMap(ComplaintCategory.init(rawValue:)), strategy: strategy))
        }

        var shifts: [String: [Shift]] = [:]
        let shiftRows = try await connection.query("""
            SELECT staff_id, shift_id, days, starts_at, ends_at, overnight FROM shifts WHERE hotel_id = \(hotelID)
            ORDER BY staff_id, starts_at, shift_id
            """, logger: logger)
        for try await (staffID, shiftID, days, start, end, overnight) in shiftRows.decode((String, UUID, [String], String, String, Bool).self) {
            guard let start = LocalTime(start), let end = LocalTime(end) else { continue }
            shifts[staffID, default: []].append(Shift(
                id: shiftID, days: days.compactMap(Weekday.init(rawValue:)), start: start, end: end, overnight: overnight))
        }

        var staff: [StaffMember] = []
        let staffRows = try await connection.query("""
            SELECT staff_id, name, role, departments, languages, skills, capacity, active, days_off
            FROM staff WHERE hotel_id = \(hotelID) ORDER BY staff_id
            """, logger: logger)
        for try await (id, name, role, memberDepartments, languages, skills, capacity, active, daysOff) in staffRows.decode(
            (String, String, String, [String], [String], [String], Int, Bool, [String]).self)
        {
            staff.append(StaffMember(
                id: id, name: name, role: StaffRole(rawValue: role) ?? .agent, departments: memberDepartments, languages: languages,
                skills: skills, capacity: capacity, active: active, daysOff: daysOff.compactMap(LocalDate.init), shifts: shifts[id] ?? []))
        }
        return HotelOrganisation(
            id: hotelID, name: name, timeZone: timeZone, strategy: strategy,
            escalation: escalation.compactMap(EscalationRole.init(rawValue:)), departments: departments, staff: staff)
    }

    /// A hotel's settings and head counts, for the list of hotels.
    public struct HotelSummary: Sendable, Hashable {
        public var id: String
        public var name: String
        public var timeZone: String
        public var strategy: String
        public var departments: Int
        public var staff: Int
    }

    /// Up to `limit` hotels by id after `after`, among `hotelIDs` (`nil`: every hotel), in one statement.
    public func summaries(
        of hotelIDs: [String]?, after: String?, limit: Int, on connection: PostgresConnection, logger: Logger
    ) async throws -> [HotelSummary] {
        let rows = try await connection.query("""
            SELECT h.hotel_id, h.name, h.time_zone, h.strategy,
                (SELECT count(*)::int FROM departments d WHERE d.hotel_id = h.hotel_id),
                (SELECT count(*)::int FROM staff s WHERE s.hotel_id = h.hotel_id)
            FROM hotels h
            WHERE (\(hotelIDs == nil) OR h.hotel_id = ANY(\(hotelIDs ?? [])::text[]))
              AND (\(after)::text IS NULL OR h.hotel_id > \(after)::text)
            ORDER BY h.hotel_id LIMIT \(limit)
            """, logger: logger)
        var summaries: [HotelSummary] = []
        for try await (id, name, timeZone, strategy, departments, staff) in rows.decode((String, String, String, String, Int, Int).self) {
            summaries.append(HotelSummary(id: id, name: name, timeZone: timeZone, strategy: strategy, departments: departments, staff: staff))
        }
        return summaries
    }

    /// The ids of every hotel, sorted.
    public func hotelIDs(on connection: PostgresConnection, logger: Logger) async throws -> [String] {
        let rows = try await connection.query("SELECT hotel_id FROM hotels ORDER BY hotel_id", logger: logger)
        var ids: [String] = []
        for try await id in rows.decode(String.self) { ids.append(id) }
        return ids
    }

    // MARK: The file

    /// What applying the organisation file did, per hotel.
    public struct FileApplication: Sendable, Hashable {
        /// Hotels created or replaced because their section is new or changed.
        public var applied: [String] = []
        /// Hotels whose section did not change (changes made through the API are kept).
        public var unchanged: [String] = []

        public init(applied: [String] = [], unchanged: [String] = []) {
            self.applied = applied
            self.unchanged = unchanged
        }
    }

    /// A staff member the organisation file would drop while they still own open complaints.
    public struct DroppedOwner: Sendable, Hashable, CustomStringConvertible {
        public var hotelID: String
        public var staffID: String
        public var openComplaints: Int

        public init(hotelID: String, staffID: String, openComplaints: Int) {
            self.hotelID = hotelID
            self.staffID = staffID
            self.openComplaints = openComplaints
        }

        public var description: String { "\(hotelID) \(staffID) (\(openComplaints) open)" }
    }

    /// The organisation file drops staff who still own open complaints, as `DELETE …/staff/{id}` would
    /// (409 there): nothing of it is applied, and the organisation stored before stays in force.
    public struct FileRefused: Error, Sendable, Hashable, CustomStringConvertible {
        public var owners: [DroppedOwner]

        public var description: String {
            "the organisation file drops staff who still own open complaints: "
                + owners.map(\.description).joined(separator: ", ")
                + "; keep them in the file with active: false until those complaints are resolved, then remove them"
        }
    }

    /// Applies the organisation file: a hotel whose section changed since it was last applied (or that
    /// is new) is replaced by the file's version; an unchanged one keeps what the API did to it since.
    /// - Throws: ``FileRefused`` when a changed section leaves out staff who still own open complaints;
    ///   nothing is written then (the caller's transaction rolls back whatever it did).
    public func apply(_ organisation: Organisation, on connection: PostgresConnection, logger: Logger) async throws -> FileApplication {
        var result = FileApplication()
        // The hotels already stored, locked in hotel order as the stage's shared transactions lock them;
        // the ones not stored yet against an API request creating them at the same moment.
        let hotelIDs = organisation.hotels.map(\.id).sorted()
        try await lockCreation(of: hotelIDs, on: connection, logger: logger)
        try await lock(hotelIDs, on: connection, logger: logger)
        var changed: [(hotel: HotelOrganisation, digest: String)] = []
        var dropped: [DroppedOwner] = []
        for hotel in organisation.hotels {
            let digest = OrganisationFile.digest(of: hotel)
            let rows = try await connection.query(
                "SELECT file_digest FROM hotels WHERE hotel_id = \(hotel.id) FOR UPDATE", logger: logger)
            var stored: String??
            for try await value in rows.decode(String?.self) { stored = .some(value) }
            if case .some(.some(let previous)) = stored, previous == digest {
                result.unchanged.append(hotel.id)
                continue
            }
            changed.append((hotel, digest))
            // Checked under the hotel's lock: no assignment can give them a complaint meanwhile.
            dropped += try await openComplaintsOfStaff(notIn: hotel, on: connection, logger: logger)
        }
        guard dropped.isEmpty else { throw FileRefused(owners: dropped) }
        for (hotel, digest) in changed {
            try await replace(hotel, fileDigest: digest, on: connection, logger: logger)
            result.applied.append(hotel.id)
        }
        return result
    }

    /// Staff stored for `hotel` whom its new version leaves out, with the open complaints each owns.
    func openComplaintsOfStaff(notIn hotel: HotelOrganisation, on connection: PostgresConnection, logger: Logger) async throws -> [DroppedOwner] {
        let rows = try await connection.query("""
            SELECT c.staff_id, count(*)::int FROM complaints c
            JOIN staff s ON s.hotel_id = c.hotel_id AND s.staff_id = c.staff_id
            WHERE c.hotel_id = \(hotel.id) AND c.status = 'open' AND NOT (c.staff_id = ANY(\(hotel.staff.map(\.id))::text[]))
            GROUP BY c.staff_id ORDER BY c.staff_id
            """, logger: logger)
        var owners: [DroppedOwner] = []
        for try await (staffID, count) in rows.decode((String, Int).self) {
            owners.append(DroppedOwner(hotelID: hotel.id, staffID: staffID, openComplaints: count))
        }
        return owners
    }

    /// Open complaints `staffID` owns at `hotelID` (at most `limit`).
    public func openComplaints(of staffID: String, hotelID: String, limit: Int, on connection: PostgresConnection, logger: Logger) async throws -> [UUID] {
        let rows = try await connection.query("""
            SELECT complaint_id FROM complaints WHERE hotel_id = \(hotelID) AND staff_id = \(staffID) AND status = 'open'
            ORDER BY complaint_id LIMIT \(limit)
            """, logger: logger)
        var ids: [UUID] = []
        for try await id in rows.decode(UUID.self) { ids.append(id) }
        return ids
    }

    /// Replaces everything stored for `hotel` (settings, departments, staff, shifts).
    public func replace(_ hotel: HotelOrganisation, fileDigest: String?, on connection: PostgresConnection, logger: Logger) async throws {
        try await saveSettings(hotel, fileDigest: fileDigest, on: connection, logger: logger)
        try await connection.query("DELETE FROM staff WHERE hotel_id = \(hotel.id)", logger: logger)
        try await connection.query("DELETE FROM departments WHERE hotel_id = \(hotel.id)", logger: logger)
        for department in hotel.departments {
            try await save(department, hotelID: hotel.id, on: connection, logger: logger)
        }
        for member in hotel.staff {
            try await save(member, hotelID: hotel.id, on: connection, logger: logger)
        }
    }

    // MARK: Changes (the API)

    /// Creates the hotel or changes its settings (name, zone, strategy, escalation); bumps the revision.
    /// - Parameter fileDigest: Stored as given; `nil` marks a hotel created by the API.
    public func saveSettings(_ hotel: HotelOrganisation, fileDigest: String?, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            INSERT INTO hotels (hotel_id, name, time_zone, strategy, escalation, file_digest)
            VALUES (\(hotel.id), \(hotel.name), \(hotel.timeZone), \(hotel.strategy), \(hotel.escalation.map(\.rawValue)), \(fileDigest))
            ON CONFLICT (hotel_id) DO UPDATE SET name = excluded.name, time_zone = excluded.time_zone,
                strategy = excluded.strategy, escalation = excluded.escalation, file_digest = excluded.file_digest,
                revision = hotels.revision + 1, updated_at = now()
            """, logger: logger)
    }

    /// Changes a hotel's settings without touching its file digest; bumps the revision.
    public func updateSettings(_ hotel: HotelOrganisation, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            UPDATE hotels SET name = \(hotel.name), time_zone = \(hotel.timeZone), strategy = \(hotel.strategy),
                escalation = \(hotel.escalation.map(\.rawValue)), revision = revision + 1, updated_at = now()
            WHERE hotel_id = \(hotel.id)
            """, logger: logger)
    }

    /// Creates or replaces a department.
    public func save(_ department: Department, hotelID: String, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            INSERT INTO departments (hotel_id, code, name, categories, strategy)
            VALUES (\(hotelID), \(department.code), \(department.name), \(department.categories.map(\.rawValue)), \(department.strategy))
            ON CONFLICT (hotel_id, code) DO UPDATE SET name = excluded.name, categories = excluded.categories,
                strategy = excluded.strategy
            """, logger: logger)
    }

    /// Creates or replaces a staff member and their shifts (shifts without an id get one).
    public func save(_ member: StaffMember, hotelID: String, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            INSERT INTO staff (hotel_id, staff_id, name, role, departments, languages, skills, capacity, active, days_off)
            VALUES (\(hotelID), \(member.id), \(member.name), \(member.role.rawValue), \(member.departments), \(member.languages),
                \(member.skills), \(member.capacity), \(member.active), \(member.daysOff.map(\.description)))
            ON CONFLICT (hotel_id, staff_id) DO UPDATE SET name = excluded.name, role = excluded.role,
                departments = excluded.departments, languages = excluded.languages, skills = excluded.skills,
                capacity = excluded.capacity, active = excluded.active, days_off = excluded.days_off
            """, logger: logger)
        try await connection.query("DELETE FROM shifts WHERE hotel_id = \(hotelID) AND staff_id = \(member.id)", logger: logger)
        for shift in member.shifts {
            try await add(shift, hotelID: hotelID, staffID: member.id, on: connection, logger: logger)
        }
    }

    /// Adds a shift; returns its id.
    @discardableResult
    public func add(_ shift: Shift, hotelID: String, staffID: String, on connection: PostgresConnection, logger: Logger) async throws -> UUID {
        let id = shift.id ?? UUID()
        try await connection.query("""
            INSERT INTO shifts (shift_id, hotel_id, staff_id, days, starts_at, ends_at, overnight)
            VALUES (\(id), \(hotelID), \(staffID), \(shift.days.map(\.rawValue)), \(shift.start.description), \(shift.end.description),
                \(shift.overnight))
            """, logger: logger)
        return id
    }

    /// Deletes a department, a staff member (with their shifts) or a shift; `false` when there was none.
    public func delete(_ item: Item, hotelID: String, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        let rows: PostgresRowSequence
        switch item {
        case .department(let code):
            rows = try await connection.query(
                "DELETE FROM departments WHERE hotel_id = \(hotelID) AND code = \(code) RETURNING 1", logger: logger)
        case .staff(let staffID):
            rows = try await connection.query(
                "DELETE FROM staff WHERE hotel_id = \(hotelID) AND staff_id = \(staffID) RETURNING 1", logger: logger)
        case .shift(let shiftID):
            rows = try await connection.query(
                "DELETE FROM shifts WHERE hotel_id = \(hotelID) AND shift_id = \(shiftID) RETURNING 1", logger: logger)
        }
        return try await rows.collect().count > 0
    }

    /// Something the API can delete.
    public enum Item: Sendable {
        case department(String)
        case staff(String)
        case shift(UUID)
    }

    /// Bumps the hotel's revision after a change of its departments, staff or shifts.
    public func touch(_ hotelID: String, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(
            "UPDATE hotels SET revision = revision + 1, updated_at = now() WHERE hotel_id = \(hotelID)", logger: logger)
    }
}

/// The hotels this process has read, by revision: most assignments need no organisation query.
final class OrganisationCache: Sendable {
    private let hotels = Mutex<[String: (revision: Int64, hotel: HotelOrganisation)]>([:])

    func hotel(_ id: String, revision: Int64) -> HotelOrganisation? {
        hotels.withLock { entries in
            guard let entry = entries[id], entry.revision == revision else { return nil }
            return entry.hotel
        }
    }

    func store(_ hotel: HotelOrganisation, revision: Int64) {
        hotels.withLock { $0[hotel.id] = (revision, hotel) }
    }
}
