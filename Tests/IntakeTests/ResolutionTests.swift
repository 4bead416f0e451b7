import Access
import ComplaintEvents
import ComplaintPipeline
import ComplaintTesting
import Foundation
import Intake
import NIOHTTP1
import Testing

/// The end of a complaint: a pending compensation is decided before it closes, and each resolution
/// gets one follow-up, whoever records it (staff, or the guest's survey link).
@Suite("Closing and following up", .timeLimit(.minutes(3)))
struct ResolutionTests {
    static let resolution = #"{"text":"更换了空调压缩机","rootCause":"hvac_failure","firstContact":false}"#

    @Test("close is refused (409 naming the compensation) while a compensation is pending, and allowed once it is decided")
    func closeWithPendingCompensation() async throws {
        try await IntakeHarness.run { harness in
            let staff = try await harness.key(.staff)
            let manager = try await harness.key(.manager)
            let (_, id) = try await harness.submit(IntakeHarness.submission())
            let path = "/v1/complaints/\(id)"
            let requested = try await harness.request(
                .POST, "\(path)/compensations", key: staff, body: #"{"kind":"refund","amountMinor":50000,"currency":"CNY","reason":"退一晚房费"}"#)
            #expect(requested.status == 202)
            let pending = try #require(requested.json["compensationId"] as? String)
            #expect(try await harness.request(.POST, "\(path)/acknowledge", key: staff).status == 200)
            #expect(try await harness.request(.POST, "\(path)/resolve", key: staff, body: Self.resolution).status == 200)

            let refused = try await harness.request(.POST, "\(path)/close", key: staff)
            #expect(refused.status == 409, "\(refused.body)")
            #expect(refused.headers["content-type"] == "application/problem+json")
            #expect(refused.json["compensationId"] as? String == pending)
            #expect(refused.json["currentStatus"] as? String == "resolved")
            #expect((refused.json["type"] as? String)?.hasSuffix("/compensation-pending") == true)
            // Still resolved, and the compensation can still be decided.
            #expect(try await harness.request(.GET, path, key: staff).json["status"] as? String == "resolved")
            let approved = try await harness.request(.POST, "\(path)/compensations/\(pending)/approve", key: manager)
            #expect(approved.status == 200, "\(approved.body)")
            #expect(approved.json["compensationState"] as? String == "approved")
            let closed = try await harness.request(.POST, "\(path)/close", key: staff)
            #expect(closed.status == 200, "\(closed.body)")
            #expect(closed.json["status"] as? String == "closed")
        }
    }

    @Test("one follow-up per resolution by staff: a second one (a new key) is 409, a retry of the first replays; after reopen and resolve, another")
    func staffFollowUpOncePerResolution() async throws {
        try await IntakeHarness.run { harness in
            let staff = try await harness.key(.staff)
            let (_, id) = try await harness.submit(IntakeHarness.submission())
            let path = "/v1/complaints/\(id)"
            #expect(try await harness.request(.POST, "\(path)/acknowledge", key: staff).status == 200)
            #expect(try await harness.request(.POST, "\(path)/resolve", key: staff, body: Self.resolution).status == 200)
            let happy = #"{"satisfaction":4,"nps":8}"#
            let first = try await harness.request(.POST, "\(path)/follow-up", key: staff, body: happy, headers: [("Idempotency-Key", "fu-1")])
            #expect(first.status == 200, "\(first.body)")
            let retry = try await harness.request(.POST, "\(path)/follow-up", key: staff, body: happy, headers: [("Idempotency-Key", "fu-1")])
            #expect(retry.status == 200 && retry.headers["idempotent-replayed"] == "true")
            let second = try await harness.request(.POST, "\(path)/follow-up", key: staff, body: happy, headers: [("Idempotency-Key", "fu-2")])
            #expect(second.status == 409, "\(second.body)")
            #expect(second.headers["content-type"] == "application/problem+json")
            #expect((second.json["type"] as? String)?.hasSuffix("/follow-up-recorded") == true)
            #expect(second.json["followUpRecordedAt"] as? String != nil)

            // A new resolution takes its own follow-up.
            #expect(try await harness.request(.POST, "\(path)/reopen", key: staff, body: #"{"reason":"客人再次来电"}"#).status == 200)
            #expect(try await harness.request(.POST, "\(path)/resolve", key: staff, body: Self.resolution).status == 200)
            #expect(try await harness.request(.POST, "\(path)/follow-up", key: staff, body: happy).status == 200)

            let timeline = try await harness.request(.GET, path, key: staff).json["timeline"] as? [[String: Any]] ?? []
            #expect(timeline.filter { $0["kind"] as? String == "followup_recorded" }.count == 2)
        }
    }

    @Test("one follow-up per resolution on the survey page: a second link, or a link after staff recorded it, shows 'already answered' and changes nothing")
    func surveyFollowUpOncePerResolution() async throws {
        let secret = SurveyPageTests.secret
        try await IntakeHarness.run(configure: { $0.surveySecret = secret }) { harness in
            let id = try await SurveyPageTests.resolvedComplaint(harness)
            // Two links for the same resolution (the notifier sent a reminder, say).
            let first = SurveyToken(complaintID: id, expiresAt: Date().addingTimeInterval(86_400), secret: secret).description
            let second = SurveyToken(complaintID: id, expiresAt: Date().addingTimeInterval(2 * 86_400), secret: secret).description
            let form = "satisfaction=4&recommend=8"
            let answered = try await plainRequest(.POST, harness.base + "/survey/\(first)", key: nil, body: form,
                                                  contentType: "application/x-www-form-urlencoded")
            #expect(answered.status == 200, "\(answered.body)")
            let shown = try await plainRequest(.GET, harness.base + "/survey/\(second)", key: nil)
            #expect(shown.status == 409)
            #expect(shown.headers["content-type"] == "text/html; charset=utf-8")
            #expect(shown.body.contains("此问卷已经提交过了"), "\(shown.body)")
            let again = try await plainRequest(.POST, harness.base + "/survey/\(second)", key: nil, body: form,
                                               contentType: "application/x-www-form-urlencoded")
            #expect(again.status == 409)
            #expect(again.body.contains("此问卷已经提交过了"))
            // Staff cannot record a second one either.
            let staff = try await harness.key(.staff)
            let byStaff = try await harness.request(.POST, "/v1/complaints/\(id)/follow-up", key: staff, body: #"{"satisfaction":1,"nps":0}"#)
            #expect(byStaff.status == 409, "\(byStaff.body)")

            let complaint = try await harness.request(.GET, "/v1/complaints/\(id)", key: staff)
            #expect(complaint.json["status"] as? String == "resolved")
            let timeline = complaint.json["timeline"] as? [[String: Any]] ?? []
            #expect(timeline.filter { $0["kind"] as? String == "followup_recorded" }.count == 1)
        }
    }
}
