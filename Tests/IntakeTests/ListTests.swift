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
        }
    }
}
