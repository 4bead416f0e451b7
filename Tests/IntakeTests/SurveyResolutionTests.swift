import Access
import ComplaintEvents
import ComplaintPipeline
import ComplaintTesting
import Foundation
import Intake
import NIOHTTP1
import PostgresNIO
import Testing

/// A survey link asks about one resolution: the one the notifier sent it for. After the complaint is
/// reopened and resolved again, that link shows a page saying so (`410`) and records nothing; the new
/// resolution's link answers. Links from before tokens named their resolution (`v1`) answer while the
/// complaint has been resolved just once.
@Suite("Survey links and resolutions", .timeLimit(.minutes(3)))
struct SurveyResolutionTests {
    static let secret = SurveyPageTests.secret
    static let form = "satisfaction=4&recommend=8"
    static let earlierHeading = "此问卷针对的是之前的处理结果"

    /// When each of the complaint's resolutions was recorded, as intake's API shows them (and the
    /// notifier reads them).
    static func resolutions(_ harness: IntakeHarness, _ id: UUID) async throws -> [Date] {
        let timeline = try await harness.request(.GET, "/v1/complaints/\(id)", key: harness.admin).json["timeline"] as? [[String: Any]] ?? []
        return timeline.compactMap { $0["kind"] as? String == "resolved" ? ($0["at"] as? String).flatMap(EventTimestamp.date(from:)) : nil }
    }

    static func reopenAndResolve(_ harness: IntakeHarness, _ id: UUID) async throws {
        let staff = try await harness.key(.staff)
        #expect(try await harness.request(.POST, "/v1/complaints/\(id)/reopen", key: staff, body: #"{"reason":"客人再次来电"}"#).status == 200)
        #expect(try await harness.request(.POST, "/v1/complaints/\(id)/resolve", key: staff, body: ResolutionTests.resolution).status == 200)
    }

    /// What the survey has recorded for the complaint: timeline entries, follow-ups, answers by link.
    static func recorded(_ harness: IntakeHarness, _ id: UUID) async throws -> (entries: Int, followUps: Int, answers: Int) {
        let timeline = try await harness.request(.GET, "/v1/complaints/\(id)", key: harness.admin).json["timeline"] as? [[String: Any]] ?? []
        let answers = try await harness.client.query(
            PostgresQuery(unsafeSQL: "SELECT count(*)::bigint FROM \(harness.schema).survey_answers WHERE complaint_id = '\(id.uuidString.lowercased())'"),
            logger: .complaintTest
        ).collect().first?.decode(Int64.self) ?? -1
        return (timeline.count, timeline.filter { $0["kind"] as? String == "followup_recorded" }.count, Int(answers))
    }

    static func post(_ harness: IntakeHarness, _ token: SurveyToken) async throws -> HTTPReply {
        try await plainRequest(.POST, harness.base + "/survey/\(token)", key: nil, body: Self.form, contentType: "application/x-www-form-urlencoded")
    }

    @Test("a link answers the resolution it names; after a reopening and a new resolution it shows the earlier-resolution page, records nothing, and the new link answers")
    func boundToItsResolution() async throws {
        try await IntakeHarness.run(configure: { $0.surveySecret = Self.secret }) { harness in
            let id = try await SurveyPageTests.resolvedComplaint(harness)
            let first = try #require(try await Self.resolutions(harness, id).last)
            let firstLink = SurveyToken(complaintID: id, resolvedAt: first, expiresAt: Date().addingTimeInterval(86_400), secret: Self.secret)
            #expect(firstLink.description.hasPrefix("v2."))
            let form = try await plainRequest(.GET, harness.base + "/survey/\(firstLink)", key: nil)
            #expect(form.status == 200, "\(form.body)")
            #expect(form.body.contains("id=\"survey\""))

            // Reopened and resolved again before the guest answered the first link.
            try await Self.reopenAndResolve(harness, id)
            let times = try await Self.resolutions(harness, id)
            #expect(times.count == 2)
            let before = try await Self.recorded(harness, id)
            let shown = try await plainRequest(.GET, harness.base + "/survey/\(firstLink)", key: nil)
            #expect(shown.status == 410, "\(shown.body)")
            #expect(shown.headers["content-type"] == "text/html; charset=utf-8")
            #expect(shown.body.contains(Self.earlierHeading) && shown.body.contains("新的问卷"), "\(shown.body)")
            #expect(!shown.body.contains("id=\"survey\""), "no form")
            let refused = try await Self.post(harness, firstLink)
            #expect(refused.status == 410, "\(refused.body)")
            #expect(refused.body.contains(Self.earlierHeading))
            let after = try await Self.recorded(harness, id)
            #expect(after.entries == before.entries && after.followUps == 0 && after.answers == 0, "the old link recorded nothing: \(after)")

            // The second resolution's own link answers it, once.
            let secondLink = SurveyToken(complaintID: id, resolvedAt: try #require(times.last), expiresAt: Date().addingTimeInterval(86_400), secret: Self.secret)
            let answered = try await Self.post(harness, secondLink)
            #expect(answered.status == 200, "\(answered.body)")
            #expect(answered.body.contains("感谢您的回答"))
            #expect(try await Self.recorded(harness, id).followUps == 1)
            // The first link still says it is for an earlier resolution, not "already answered".
            let late = try await plainRequest(.GET, harness.base + "/survey/\(firstLink)", key: nil)
            #expect(late.status == 410 && late.body.contains(Self.earlierHeading), "\(late.body)")
        }
    }

    @Test("an old-format (v1) link answers while the complaint was resolved once; once resolved again it shows the earlier-resolution page and records nothing")
    func oldFormatLinks() async throws {
        try await IntakeHarness.run(configure: { $0.surveySecret = Self.secret }) { harness in
            // Resolved once: the v1 link answers that resolution.
            let once = try await SurveyPageTests.resolvedComplaint(harness)
            let onceLink = SurveyToken(complaintID: once, expiresAt: Date().addingTimeInterval(86_400), secret: Self.secret)
            #expect(onceLink.description.hasPrefix("v1.") && onceLink.resolvedAt == nil)
            let answered = try await Self.post(harness, onceLink)
            #expect(answered.status == 200, "\(answered.body)")
            #expect(try await Self.recorded(harness, once).followUps == 1)

            // Resolved twice: the v1 link cannot say which resolution it was sent for, so it answers neither.
            let twice = try await SurveyPageTests.resolvedComplaint(harness)
            let twiceLink = SurveyToken(complaintID: twice, expiresAt: Date().addingTimeInterval(86_400), secret: Self.secret)
            try await Self.reopenAndResolve(harness, twice)
            let before = try await Self.recorded(harness, twice)
            let shown = try await plainRequest(.GET, harness.base + "/survey/\(twiceLink)", key: nil)
            #expect(shown.status == 410 && shown.body.contains(Self.earlierHeading), "\(shown.body)")
            let refused = try await Self.post(harness, twiceLink)
            #expect(refused.status == 410 && refused.body.contains(Self.earlierHeading), "\(refused.body)")
            let after = try await Self.recorded(harness, twice)
            #expect(after.entries == before.entries && after.followUps == 0 && after.answers == 0, "\(after)")
            let complaint = try await harness.request(.GET, "/v1/complaints/\(twice)", key: harness.admin)
            #expect(complaint.json["status"] as? String == "resolved")
        }
    }
}
