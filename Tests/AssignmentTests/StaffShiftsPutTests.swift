import Access
import Assignment
import ComplaintEvents
import ComplaintTesting
import Foundation
import NIOHTTP1
import Testing

/// `PUT …/staff/{id}` and `shifts`: absent keeps the stored shifts, `[]` removes them, a list replaces
/// them, and `null` (which the schema does not allow) is a 422 on `shifts` that writes nothing.
@Suite("Staff PUT and shifts", .timeLimit(.minutes(3)))
struct StaffShiftsPutTests {
    static let a = AssignmentHarness.hotelA
    static let member = "\(AssignmentHarness.hotelA)-HK-1"

    @Test("shifts: absent keeps them, null is a 422 naming shifts and deletes nothing, [] removes them")
    func shiftsAbsentNullEmpty() async throws {
        try await AssignmentHarness.run { harness in
            let manager = try await harness.key(.manager, hotels: [Self.a])
            let path = "/v1/hotels/\(Self.a)/staff/\(Self.member)"
            let shifts = "SELECT count(*)::int FROM §.shifts WHERE hotel_id = '\(Self.a)' AND staff_id = '\(Self.member)'"
            let revision = "SELECT revision::int FROM §.hotels WHERE hotel_id = '\(Self.a)'"
            #expect(try await harness.count(shifts) == 1)
            let fields = #""id":"\#(Self.member)","name":"Ana","role":"agent","departments":["housekeeping"],"languages":["en"],"capacity":2"#

            // Absent: the stored shift stays.
            let kept = try await harness.request(.PUT, path, key: manager, body: "{\(fields)}")
            #expect(kept.status == 200, "\(kept.body)")
            #expect((kept.json["shifts"] as? [Any])?.count == 1, "\(kept.body)")
            #expect(try await harness.count(shifts) == 1)

            // null: the schema allows an array only. A 422 on `shifts`, and nothing written.
            let before = try await harness.count(revision)
            let refused = try await harness.request(.PUT, path, key: manager, body: #"{\#(fields),"shifts":null}"#)
            #expect(refused.status == 422, "\(refused.body)")
            #expect(refused.headers["content-type"] == "application/problem+json")
            let errors = refused.json["errors"] as? [[String: Any]] ?? []
            #expect(errors.first?["field"] as? String == "shifts", "\(refused.body)")
            #expect(try await harness.count(shifts) == 1)
            #expect(try await harness.count(revision) == before)
            // The same on POST, and on the other optional lists.
            let posted = try await harness.request(.POST, "/v1/hotels/\(Self.a)/staff", key: manager, body: #"{\#(fields),"shifts":null}"#)
            #expect(posted.status == 422, "\(posted.body)")
            #expect((posted.json["errors"] as? [[String: Any]])?.first?["field"] as? String == "shifts", "\(posted.body)")
            let daysOff = try await harness.request(.PUT, path, key: manager, body: #"{\#(fields),"daysOff":null}"#)
            #expect(daysOff.status == 422, "\(daysOff.body)")
            #expect((daysOff.json["errors"] as? [[String: Any]])?.first?["field"] as? String == "daysOff", "\(daysOff.body)")
            #expect(try await harness.count(shifts) == 1)

            // []: every shift removed, as asked.
            let cleared = try await harness.request(.PUT, path, key: manager, body: #"{\#(fields),"shifts":[]}"#)
            #expect(cleared.status == 200, "\(cleared.body)")
            #expect((cleared.json["shifts"] as? [Any])?.isEmpty == true, "\(cleared.body)")
            #expect(try await harness.count(shifts) == 0)
        }
    }
}
