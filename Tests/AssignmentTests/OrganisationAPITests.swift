import Access
import Assignment
import ComplaintEvents
import ComplaintTesting
import Foundation
import NIOHTTP1
import Testing

@Suite("Organisation API", .timeLimit(.minutes(3)))
struct OrganisationAPITests {
    static let a = AssignmentHarness.hotelA
    static let b = AssignmentHarness.hotelB

    @Test("tenancy: a manager of hotel A cannot read or change hotel B; staff and publishers cannot manage; no key is 401")
    func tenancy() async throws {
        try await AssignmentHarness.run { harness in
            let managerA = try await harness.key(.manager, hotels: [Self.a])
            let staffA = try await harness.key(.staff, hotels: [Self.a])
            let publisherA = try await harness.key(.publisher, hotels: [Self.a])
            let newcomer = #"{"id":"X-1","name":"New","role":"agent","departments":["housekeeping"],"capacity":2}"#
            let department = #"{"code":"spa","name":"Spa","categories":[]}"#
            let shift = #"{"staffId":"\#(Self.b)-HK-1","days":["mon"],"start":"07:00","end":"15:00"}"#
            // (key, method, path, body) → status
            let matrix: [(String?, HTTPMethod, String, String?, Int)] = [
                (managerA, .GET, "/v1/hotels/\(Self.a)", nil, 200),
                (managerA, .GET, "/v1/hotels/\(Self.b)", nil, 403),
                (managerA, .GET, "/v1/hotels/\(Self.b)/staff", nil, 403),
                (managerA, .GET, "/v1/hotels/\(Self.b)/on-duty", nil, 403),
                (managerA, .POST, "/v1/hotels/\(Self.b)/staff", newcomer, 403),
                (managerA, .POST, "/v1/hotels/\(Self.b)/departments", department, 403),
                (managerA, .POST, "/v1/hotels/\(Self.b)/shifts", shift, 403),
                (managerA, .DELETE, "/v1/hotels/\(Self.b)/staff/\(Self.b)-HK-1", nil, 403),
                (managerA, .PUT, "/v1/hotels/\(Self.b)", #"{"strategy":"round_robin"}"#, 403),
                (staffA, .GET, "/v1/hotels/\(Self.a)", nil, 403),
                (staffA, .POST, "/v1/hotels/\(Self.a)/staff", newcomer, 403),
                (publisherA, .GET, "/v1/hotels/\(Self.a)/staff", nil, 403),
                (nil, .GET, "/v1/hotels/\(Self.a)", nil, 401),
                (harness.admin, .GET, "/v1/hotels/\(Self.b)", nil, 200),
                (harness.admin, .GET, "/v1/hotels/\(Self.a)/departments", nil, 200),
            ]
            for (key, method, path, body, status) in matrix {
                let reply = try await harness.request(method, path, key: key, body: body)
                #expect(reply.status == status, "\(method) \(path) → \(reply.status): \(reply.body)")
            }
            // Hotel B is unchanged, and the list shows a manager only their hotels.
            #expect(try await harness.count("SELECT count(*)::int FROM §.staff WHERE hotel_id = '\(Self.b)'") == 5)
            let list = try await harness.request(.GET, "/v1/hotels", key: managerA)
            #expect((list.json["hotels"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == [Self.a])
            let all = try await harness.request(.GET, "/v1/hotels", key: harness.admin)
            #expect((all.json["hotels"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == [Self.a, Self.b])
        }
    }

    @Test("bad input is a 422 naming the field, and nothing is written")
    func validation() async throws {
        try await AssignmentHarness.run { harness in
            let manager = try await harness.key(.manager, hotels: [Self.a, "NEW-01"])
            func expect422(_ method: HTTPMethod, _ path: String, _ body: String, field: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
                let reply = try await harness.request(method, path, key: manager, body: body)
                #expect(reply.status == 422, "\(reply.body)", sourceLocation: sourceLocation)
                #expect(reply.headers["content-type"] == "application/problem+json", sourceLocation: sourceLocation)
                let errors = reply.json["errors"] as? [[String: Any]] ?? []
                #expect(errors.first?["field"] as? String == field, "\(reply.body)", sourceLocation: sourceLocation)
            }
            let before = try await harness.count("SELECT (SELECT count(*) FROM §.staff) + (SELECT count(*) FROM §.shifts) + (SELECT count(*) FROM §.departments)")
            try await expect422(.POST, "/v1/hotels/\(Self.a)/staff",
                                #"{"id":"X-1","name":"New","role":"agent","departments":["housekeeping"],"capacity":-1}"#, field: "capacity")
            try await expect422(.POST, "/v1/hotels/\(Self.a)/staff",
                                #"{"id":"X-1","name":"New","role":"agent","departments":["laundry"],"capacity":1}"#, field: "departments[0]")
            try await expect422(.POST, "/v1/hotels/\(Self.a)/staff",
                                #"{"id":"X-1","name":"New","role":"chef","departments":["housekeeping"],"capacity":1}"#, field: "role")
            try await expect422(.POST, "/v1/hotels/\(Self.a)/staff",
                                #"{"id":"X-1","name":"New","role":"agent","departments":["housekeeping"],"capacity":1,"shifts":[{"days":["mon"],"start":"15:00","end":"07:00"}]}"#,
                                field: "shifts[0].end")
            try await expect422(.POST, "/v1/hotels/\(Self.a)/shifts",
                                #"{"staffId":"\#(Self.a)-HK-1","days":["mon"],"start":"15:00","end":"07:00"}"#, field: "end")
            try await expect422(.POST, "/v1/hotels/\(Self.a)/shifts",
                                #"{"staffId":"NOBODY","days":["mon"],"start":"07:00","end":"15:00"}"#, field: "staffId")
            // A department, staff member or shift of a hotel that does not exist.
            try await expect422(.POST, "/v1/hotels/NEW-01/departments", #"{"code":"spa","name":"Spa","categories":[]}"#, field: "path.hotel")
            try await expect422(.POST, "/v1/hotels/NEW-01/shifts",
                                #"{"staffId":"X","days":["mon"],"start":"07:00","end":"15:00"}"#, field: "path.hotel")
            try await expect422(.POST, "/v1/hotels/\(Self.a)/departments",
                                #"{"code":"laundry","name":"Laundry","categories":["cleanliness"]}"#, field: "categories[0]")
            try await expect422(.PUT, "/v1/hotels/\(Self.a)", #"{"timeZone":"Mars/Olympus"}"#, field: "timeZone")
            try await expect422(.PUT, "/v1/hotels/NEW-01", #"{"name":"New"}"#, field: "timeZone")
            try await expect422(.PUT, "/v1/hotels/\(Self.a)/staff/\(Self.a)-HK-1",
                                #"{"id":"OTHER","name":"Ana","role":"agent","departments":["housekeeping"],"capacity":2}"#, field: "id")
            // A NUL in a name (PostgreSQL text cannot hold one) is refused by the decoder, naming the field.
            try await expect422(.PUT, "/v1/hotels/\(Self.a)", #"{"name":"Head\u0000quarters"}"#, field: "name")
            try await expect422(.POST, "/v1/hotels/\(Self.a)/departments", #"{"code":"spa","name":"S\u0000pa","categories":[]}"#, field: "name")
            try await expect422(.POST, "/v1/hotels/\(Self.a)/staff",
                                #"{"id":"X-1","name":"A\u0000na","role":"agent","departments":["housekeeping"],"capacity":1}"#, field: "name")
            let after = try await harness.count("SELECT (SELECT count(*) FROM §.staff) + (SELECT count(*) FROM §.shifts) + (SELECT count(*) FROM §.departments)")
            #expect(after == before)
            #expect(try await harness.count("SELECT count(*)::int FROM §.hotels") == 2)
            // Malformed JSON is a 400; a department still in use is a 409.
            #expect(try await harness.request(.POST, "/v1/hotels/\(Self.a)/staff", key: manager, body: "{").status == 400)
            #expect(try await harness.request(.DELETE, "/v1/hotels/\(Self.a)/departments/housekeeping", key: manager).status == 409)
        }
    }

    @Test("a hotel created by several requests at once is created once; the others change it, and what they left out stays")
    func concurrentCreation() async throws {
        try await AssignmentHarness.run { harness in
            let manager = try await harness.key(.manager, hotels: ["NEW-02"])
            // The first sets the strategy; the rest name the hotel only.
            let bodies = [#"{"name":"New 0","timeZone":"Asia/Shanghai","strategy":"round_robin"}"#]
                + (1..<8).map { #"{"name":"New \#($0)","timeZone":"Asia/Shanghai"}"# }
            let statuses = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
                for (index, body) in bodies.enumerated() {
                    group.addTask { (index, try await harness.request(.PUT, "/v1/hotels/NEW-02", key: manager, body: body).status) }
                }
                return try await group.reduce(into: [Int: Int]()) { $0[$1.0] = $1.1 }
            }
            #expect(statuses.values.filter { $0 == 201 }.count == 1, "\(statuses)")
            #expect(statuses.values.filter { $0 == 200 }.count == 7, "\(statuses)")
            // Whichever came first, nobody's settings were replaced by defaults: the strategy given once holds.
            let hotel = try await harness.request(.GET, "/v1/hotels/NEW-02", key: manager)
            #expect(hotel.json["strategy"] as? String == "round_robin", "\(hotel.body)")
        }
    }

    @Test("changes at run time take effect on the next assignment: a new hotel, department, staff member and shift")
    func changesTakeEffect() async throws {
        try await AssignmentHarness.run { harness in
            let manager = try await harness.key(.manager, hotels: ["NEW-01"])
            let created = try await harness.request(.PUT, "/v1/hotels/NEW-01", key: manager,
                                                    body: #"{"name":"New Hotel","timeZone":"Europe/London","strategy":"round_robin"}"#)
            #expect(created.status == 201, "\(created.body)")
            #expect(try await harness.request(.POST, "/v1/hotels/NEW-01/departments", key: manager,
                                              body: #"{"code":"engineering","name":"Engineering"}"#).status == 201)
            let member = try await harness.request(.POST, "/v1/hotels/NEW-01/staff", key: manager,
                                                   body: #"{"id":"NEW-ENG-1","name":"Olu","role":"agent","departments":["engineering"],"languages":["en"],"capacity":3}"#)
            #expect(member.status == 201, "\(member.body)")
            let shift = try await harness.request(.POST, "/v1/hotels/NEW-01/shifts", key: manager,
                                                  body: #"{"staffId":"NEW-ENG-1","days":["mon","tue","wed","thu","fri","sat","sun"],"start":"00:00","end":"00:00","overnight":true}"#)
            #expect(shift.status == 201, "\(shift.body)")
            let shiftID = try #require(shift.json["id"] as? String)
            let hotel = try await harness.request(.GET, "/v1/hotels/NEW-01", key: manager)
            #expect((hotel.json["departments"] as? [[String: Any]])?.first?["categories"] as? [String] == ["maintenance"])

            // A classification for the new hotel goes to the new person.
            let complaint = try AssignmentHarness.classified(hotel: "NEW-01", category: .maintenance)
            try await harness.publish([complaint], on: harness.topics.classified)
            let assigned = try #require(try await harness.assigned(1).first)
            #expect(assigned.data.assignee.staffID == "NEW-ENG-1")
            #expect(assigned.data.strategy == "round_robin")

            // Updating the member without `shifts` keeps their shifts; deleting the shift takes them off duty.
            let updated = try await harness.request(.PUT, "/v1/hotels/NEW-01/staff/NEW-ENG-1", key: manager,
                                                    body: #"{"id":"NEW-ENG-1","name":"Olu A.","role":"supervisor","departments":["engineering"],"capacity":4}"#)
            #expect(updated.status == 200, "\(updated.body)")
            #expect((updated.json["shifts"] as? [[String: Any]])?.count == 1)
            #expect(try await harness.request(.DELETE, "/v1/hotels/NEW-01/shifts/\(shiftID)", key: manager).status == 204)
            let onDuty = try await harness.request(.GET, "/v1/hotels/NEW-01/on-duty", key: manager)
            #expect((onDuty.json["staff"] as? [Any])?.isEmpty == true)
            // They still own the open complaint: deleting them would leave it with nobody.
            let refused = try await harness.request(.DELETE, "/v1/hotels/NEW-01/staff/NEW-ENG-1", key: manager)
            #expect(refused.status == 409)
            #expect((refused.json["detail"] as? String)?.contains(complaint.data.complaintID.uuidString.lowercased()) == true, "\(refused.body)")
            // Once it is resolved, they can go.
            let resolved = EventEnvelope(
                source: "/redress/intake", time: Date(), hotelID: "NEW-01",
                data: ComplaintUpdated(
                    complaintID: complaint.data.complaintID, change: .resolved(Resolution(text: "fixed", rootCause: "hvac_failure", isFirstContact: true)),
                    occurredAt: Date(), actor: EventActor(id: "NEW-ENG-1", role: .staff), statusAfter: .resolved))
            try await harness.publish([resolved], on: harness.topics.updated)
            let deleted = await eventually(timeout: .seconds(30)) {
                (try? await harness.request(.DELETE, "/v1/hotels/NEW-01/staff/NEW-ENG-1", key: manager).status) == 204
            }
            #expect(deleted)
            #expect(try await harness.request(.DELETE, "/v1/hotels/NEW-01/staff/NEW-ENG-1", key: manager).status == 404)

            // The guest reopens it: its owner is gone, so it is assigned afresh, saying why.
            #expect(try await harness.request(.POST, "/v1/hotels/NEW-01/staff", key: manager,
                                              body: #"{"id":"NEW-ENG-2","name":"Pia","role":"agent","departments":["engineering"],"capacity":3}"#).status == 201)
            #expect(try await harness.request(.POST, "/v1/hotels/NEW-01/shifts", key: manager,
                                              body: #"{"staffId":"NEW-ENG-2","days":["mon","tue","wed","thu","fri","sat","sun"],"start":"00:00","end":"00:00","overnight":true}"#).status == 201)
            let reopened = EventEnvelope(
                source: "/redress/intake", time: Date(), hotelID: "NEW-01",
                data: ComplaintUpdated(
                    complaintID: complaint.data.complaintID, change: .reopened(Reopening(trigger: .staffDecision, reason: "still broken")),
                    occurredAt: Date(), actor: EventActor(id: "guest", role: .guest), statusAfter: .reopened))
            try await harness.publish([reopened], on: harness.topics.updated)
            let again = try await harness.assigned(2)
            let reassigned = try #require(again.first { $0.data.reason == .manual }, "\(again.map(\.data.reason))")
            #expect(reassigned.data.assignee.staffID == "NEW-ENG-2")
            #expect(reassigned.data.explanation?.hasPrefix("reopened; NEW-ENG-1 is no longer on the staff") == true, "\(reassigned.data.explanation ?? "")")
        }
    }
}
