import Access
import Assignment
import ComplaintEvents
import ComplaintTesting
import Foundation
import NIOHTTP1
import Testing

/// `GET /v1/hotels` pages by hotel id with `limit` and `cursor`, as intake's `GET /v1/complaints` does.
@Suite("Hotel list paging", .timeLimit(.minutes(3)))
struct HotelListPagingTests {
    /// Before: every hotel came in one answer, each read whole (four queries a hotel), and `limit` was
    /// ignored.
    @Test("limit and cursor walk the hotels by id, only the key's, each once; the last page's nextCursor is null")
    func paging() async throws {
        try await AssignmentHarness.run { harness in
            let ids = (1...5).map { "PG-\($0)" }
            for id in ids {
                let created = try await harness.request(.PUT, "/v1/hotels/\(id)", key: harness.admin, body: #"{"timeZone":"Europe/London"}"#)
                #expect(created.status == 201, "\(created.body)")
            }
            let everyHotel = [AssignmentHarness.hotelA, AssignmentHarness.hotelB] + ids
            func walk(key: String, limit: Int) async throws -> (pages: Int, ids: [String]) {
                var seen: [String] = [], cursor: String?, pages = 0
                repeat {
                    let query = "limit=\(limit)" + (cursor.map { "&cursor=\($0)" } ?? "")
                    let page = try await harness.request(.GET, "/v1/hotels?\(query)", key: key)
                    #expect(page.status == 200, "\(page.body)")
                    let hotels = page.json["hotels"] as? [[String: Any]] ?? []
                    #expect(hotels.count <= limit)
                    seen += hotels.compactMap { $0["id"] as? String }
                    #expect(page.json.keys.contains("nextCursor"), "\(page.body)")
                    cursor = page.json["nextCursor"] as? String
                    pages += 1
                } while cursor != nil && pages < 20
                return (pages, seen)
            }
            let admin = try await walk(key: harness.admin, limit: 2)
            #expect(admin.ids == everyHotel.sorted())
            #expect(admin.pages == 4)
            // A manager of three hotels sees those, paged the same way.
            let manager = try await harness.key(.manager, hotels: ["PG-2", "PG-4", AssignmentHarness.hotelB])
            let scoped = try await walk(key: manager, limit: 2)
            #expect(scoped.ids == ["PG-2", "PG-4", AssignmentHarness.hotelB].sorted())
            // The counts come with each hotel; without limit a page holds up to 50.
            let all = try await harness.request(.GET, "/v1/hotels", key: harness.admin)
            let first = (all.json["hotels"] as? [[String: Any]])?.first
            #expect(first?["id"] as? String == "PG-1")
            #expect((all.json["hotels"] as? [Any])?.count == everyHotel.count)
            #expect(all.json["nextCursor"] is NSNull, "\(all.body)")
            let a = (all.json["hotels"] as? [[String: Any]])?.first { $0["id"] as? String == AssignmentHarness.hotelA }
            #expect(a?["staff"] as? Int == 5 && a?["departments"] as? Int == 3, "\(a ?? [:])")

            // Bad parameters are a 422 naming them.
            for (query, field) in [("limit=0", "query.limit"), ("limit=201", "query.limit"), ("cursor=%21%21", "query.cursor"), ("page=2", "query.page")] {
                let reply = try await harness.request(.GET, "/v1/hotels?\(query)", key: harness.admin)
                #expect(reply.status == 422, "\(query): \(reply.body)")
                #expect((reply.json["errors"] as? [[String: Any]])?.first?["field"] as? String == field, "\(query): \(reply.body)")
            }
            // Read by Access.QueryParameters, as intake's and metrics' queries are: a NUL is named as such (it
            // was "an integer from 1 to 200" for limit, and a cursor's base64 refused), and a parameter
            // repeated counts once (each copy of an unknown one was an error of its own).
            for (query, field, rule) in [
                ("limit=1%00", "query.limit", "must not contain NUL (%00)"), ("cursor=a%00", "query.cursor", "must not contain NUL (%00)"),
                ("page=1&page=2", "query.page", "unknown parameter; use cursor, limit"),
            ] {
                let reply = try await harness.request(.GET, "/v1/hotels?\(query)", key: harness.admin)
                #expect(reply.status == 422 && reply.headers["content-type"] == "application/problem+json", "\(query): \(reply.body)")
                let errors = (reply.json["errors"] as? [[String: Any]]) ?? []
                #expect(errors.count == 1 && errors.first?["field"] as? String == field && errors.first?["rule"] as? String == rule, "\(query): \(reply.body)")
            }
        }
    }
}
