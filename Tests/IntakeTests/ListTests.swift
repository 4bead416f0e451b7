import ComplaintTesting
import ComplaintPipeline
import Access
import Foundation
import Intake
import NIOHTTP1
import Testing

@Suite("Listing with filters and cursor paging", .timeLimit(.minutes(3)))
struct ListTests {
    @Test("filters by channel and status; cursor pages cover every complaint once")
    func filtersAndPaging() async throws {
        try await IntakeHarness.run(access: { $0.ratePerSecond = 1000 }) { harness in
            var ids: [String] = []
            for index in 0..<23 {
                let channel = index % 3 == 0 ? "wechat" : "phone"
                ids.append(try await harness.submit(IntakeHarness.submission(channel: channel)).id)
            }
            _ = try await harness.request(.POST, "/v1/complaints/\(ids[0])/acknowledge", key: harness.admin)

            var seen: [String] = []
            var cursor: String?
            var pages = 0
            repeat {
                let query = "/v1/complaints?limit=5" + (cursor.map { "&cursor=\($0)" } ?? "")
                let page = try await harness.request(.GET, query, key: harness.admin)
                #expect(page.status == 200)
                seen += (page.json["items"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
                cursor = page.json["nextCursor"] as? String
                pages += 1
            } while cursor != nil && pages < 20
            #expect(pages == 5)
            #expect(seen.count == 23 && Set(seen) == Set(ids), "every complaint exactly once")
            #expect(seen == ids.reversed(), "newest first")

            let wechat = try await harness.request(.GET, "/v1/complaints?channel=wechat&limit=200", key: harness.admin)
            #expect((wechat.json["items"] as? [[String: Any]])?.count == 8)
            let acknowledged = try await harness.request(.GET, "/v1/complaints?status=acknowledged", key: harness.admin)
            #expect((acknowledged.json["items"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == [ids[0]])
            let future = try await harness.request(.GET, "/v1/complaints?from=2099-01-01T00:00:00Z", key: harness.admin)
            #expect((future.json["items"] as? [[String: Any]])?.isEmpty == true)
            let badCursor = try await harness.request(.GET, "/v1/complaints?cursor=garbage", key: harness.admin)
            #expect(badCursor.status == 422)
            // Well-formed, but its time is not one PostgreSQL printed: the error names the parameter.
            let forged = Data(#"{"t":"1","i":"6f1c2a4e-8b0d-4c5e-9a7f-3d2b1e0c9f8a"}"#.utf8).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            let forgedReply = try await harness.request(.GET, "/v1/complaints?cursor=\(forged)", key: harness.admin)
            #expect(forgedReply.status == 422)
            #expect((forgedReply.json["errors"] as? [[String: String]])?.first?["field"] == "query.cursor", "\(forgedReply.body)")
        }
    }

    @Test("a publishing system finds its complaint by source and externalId, only in its hotels; one without the other is 422")
    func lookupByExternalID() async throws {
        try await IntakeHarness.run(access: { $0.ratePerSecond = 1000 }) { harness in
            // The same external id at two hotels of the group: one complaint each (unique per hotel).
            let shared = "PMS-\(UUID().uuidString.prefix(8))"
            let inA = try await harness.submit(IntakeHarness.submission(hotel: IntakeHarness.hotelA, source: "opera_pms", externalID: shared)).id
            let inB = try await harness.submit(IntakeHarness.submission(hotel: IntakeHarness.hotelB, source: "opera_pms", externalID: shared)).id
            _ = try await harness.submit(IntakeHarness.submission(source: "wechat_bot", externalID: shared))

            func ids(_ path: String, key: String) async throws -> [String]? {
                let reply = try await harness.request(.GET, path, key: key)
                #expect(reply.status == 200, "\(path): \(reply.status)")
                return (reply.json["items"] as? [[String: Any]])?.compactMap { $0["id"] as? String }
            }
            let query = "/v1/complaints?source=opera_pms&externalId=\(shared)"
            #expect(Set(try await ids(query, key: harness.admin) ?? []) == [inA, inB])
            #expect(try await ids(query + "&hotelId=\(IntakeHarness.hotelB)", key: harness.admin) == [inB])
            let item = try await harness.request(.GET, query + "&hotelId=\(IntakeHarness.hotelA)", key: harness.admin).json["items"] as? [[String: Any]]
            #expect(item?.first?["source"] as? String == "opera_pms" && item?.first?["externalId"] as? String == shared)

            // A publisher key of hotel A may look up by its own id, and sees hotel A's only; it may not list.
            let publisher = try await harness.key(.publisher, hotels: [IntakeHarness.hotelA])
            #expect(try await ids(query, key: publisher) == [inA])
            // It learns where its complaint stands, not who the guest is or who handles it.
            let receipt = try await harness.request(.GET, query, key: publisher).json["items"] as? [[String: Any]]
            #expect(receipt?.first?["status"] as? String != nil && receipt?.first?["guestName"] == nil && receipt?.first?["assigneeId"] == nil)
            #expect(try await ids("/v1/complaints?source=opera_pms&externalId=nothing-like-it", key: publisher) == [])
            #expect(try await harness.request(.GET, "/v1/complaints", key: publisher).status == 403)
            #expect(try await harness.request(.GET, "/v1/complaints?hotelId=\(IntakeHarness.hotelA)", key: publisher).status == 403)

            let half = try await harness.request(.GET, "/v1/complaints?source=opera_pms", key: harness.admin)
            #expect(half.status == 422 && half.body.contains("query.externalId"), "\(half.body)")
            let otherHalf = try await harness.request(.GET, "/v1/complaints?externalId=\(shared)", key: harness.admin)
            #expect(otherHalf.status == 422 && otherHalf.body.contains("query.source"), "\(otherHalf.body)")
        }
    }
}
