import ComplaintMetrics
import ComplaintTesting
import Foundation
import HotelTime
import Testing

/// `/v1/quality-index` for months it cannot score: one that has not begun (it scored 100: no complaints
/// yet looked like perfect service) and one without complaints.
@Suite("metrics quality index without data", .timeLimit(.minutes(3)))
struct QualityIndexTests {
    @Test("a month that has not begun is a 422 on query.month; a month without complaints has no score, and says why")
    func monthsWithoutData() async throws {
        try await MetricsHarness.run { harness in
            let today = ZonedCalendar(timeZone: MetricsHarness.shanghai.timeZone).day(of: Date())
            let next = today.month == 12 ? String(format: "%04d-01", today.year + 1) : String(format: "%04d-%02d", today.year, today.month + 1)
            let future = try await harness.get("/v1/quality-index?hotel=SHA-PD01&month=\(next)")
            #expect(future.status == 422, "\(future.body)")
            #expect(future.headers["content-type"]?.hasPrefix("application/problem+json") == true)
            let errors = future.json["errors"] as? [[String: Any]] ?? []
            #expect(errors.first?["field"] as? String == "query.month", "\(future.body)")

            // A past month of a fresh schema: nothing registered, so nothing to score.
            let empty = try await harness.get("/v1/quality-index?hotel=SHA-PD01&month=2026-01")
            #expect(empty.status == 200, "\(empty.body)")
            let index = try #require((empty.json["indices"] as? [[String: Any]])?.first, "\(empty.body)")
            #expect(index["score"] == nil, "\(empty.body)")
            #expect(index["unscoredReason"] as? String == QualityIndex.noComplaints)
            #expect(index["complaints"] as? Int == 0)
            let dimensions = index["dimensions"] as? [String: [String: Any]] ?? [:]
            #expect(dimensions.count == 5 && dimensions.values.allSatisfy { $0["score"] == nil }, "\(dimensions)")
        }
    }
}
