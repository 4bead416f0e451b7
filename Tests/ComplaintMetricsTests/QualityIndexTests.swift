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

    /// Before: every month's counts were scaled to an average month (30.44 days ÷ the days counted), so a
    /// whole February with 5 facility complaints on 100 rooms read 5.44 (tangibles 45.6, not 50), and on
    /// the current month's first day one complaint was projected ×30 (tangibles 0).
    @Test("a month that has ended is counted as it is; the current month is projected from at least a week")
    func perMonthRates() {
        let hotel = MetricsSettings.Hotel(id: "H1", rooms: 100)
        func tangibles(month: String, days: Int, facility: Int) -> (input: Double?, score: Double?) {
            let index = QualityIndex.compute(
                hotel: hotel, month: month, totals: MetricsSettingsTests.figures(volume: facility, facility: facility), days: days,
                settings: .init())
            let dimension = index.dimensions[QualityDimension.tangibles.rawValue]
            return (dimension?.inputs["facilityComplaintsPer100RoomsMonthly"], dimension?.score)
        }
        // Whole months, 28, 29 and 31 days: their own counts.
        let february = tangibles(month: "2026-02", days: 28, facility: 5)
        #expect(february.input == 5 && february.score == 50, "\(february)")
        #expect(tangibles(month: "2028-02", days: 29, facility: 5).input == 5)
        #expect(tangibles(month: "2026-12", days: 31, facility: 5).input == 5)
        // The current month, early: one complaint on the 1st (or the 3rd) is counted over a week, not a day.
        let first = tangibles(month: "2026-12", days: 1, facility: 1)
        #expect(abs((first.input ?? 0) - 31.0 / 7) < 1e-9 && first.score == 55.7, "\(first)")
        #expect(tangibles(month: "2026-12", days: 3, facility: 1).input == first.input)
        // From a week on, the plain projection to the month's length.
        #expect(abs((tangibles(month: "2026-12", days: 15, facility: 3).input ?? 0) - 3 * 31.0 / 15) < 1e-9)
        #expect(abs((tangibles(month: "2026-02", days: 7, facility: 2).input ?? 0) - 2 * 28.0 / 7) < 1e-9)
    }
}
