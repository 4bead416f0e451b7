import Access
import ComplaintEvents
import ComplaintPipeline
import ComplaintTesting
import Foundation
import Intake
import NIOCore
import NIOHTTP1
import Testing

/// The guest's follow-up survey page, driven in a real headless browser (chromium + chromedriver through
/// python3-selenium) at a phone's size: the questions in the guest's language, the answer recorded once
/// through the follow-up action (an unhappy guest reopens the complaint), and clear pages for a used,
/// altered or expired link that change nothing.
@Suite("Guest survey page", .timeLimit(.minutes(3)))
struct SurveyPageTests {
    static let secret = "survey-secret-for-intake-tests"
    static let browserScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Support/survey_browser.py").path
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// A complaint taken to `resolved` by staff, ready for its follow-up.
    static func resolvedComplaint(_ harness: IntakeHarness) async throws -> UUID {
        let staff = try await harness.key(.staff, name: "fd-li.wei")
        let (_, id) = try await harness.submit(IntakeHarness.submission())
        #expect(try await harness.request(.POST, "/v1/complaints/\(id)/acknowledge", key: staff).status == 200)
        let resolution = #"{"text":"更换了空调压缩机","rootCause":"hvac_failure","firstContact":true}"#
        #expect(try await harness.request(.POST, "/v1/complaints/\(id)/resolve", key: staff, body: resolution).status == 200)
        return try #require(UUID(uuidString: id))
    }

    @Test("in the browser: Chinese questions, a missing answer named, an unhappy answer reopens, the link then used; altered and expired links refused")
    func inTheBrowser() async throws {
        try await IntakeHarness.run(configure: { $0.surveySecret = Self.secret }) { harness in
            let id = try await Self.resolvedComplaint(harness)
            let good = SurveyToken(complaintID: id, expiresAt: Date().addingTimeInterval(86_400), secret: Self.secret).description
            let tampered = SurveyToken(complaintID: UUID(), expiresAt: Date().addingTimeInterval(86_400), secret: "someone-elses-secret-123").description
            let expired = SurveyToken(complaintID: id, expiresAt: Date().addingTimeInterval(-60), secret: Self.secret).description
            // Beside the dashboard's, overwritten by each run (a folder per run in /tmp piled up).
            let shots = Self.repository.appendingPathComponent(".build/test-screenshots")
            try FileManager.default.createDirectory(at: shots, withIntermediateDirectories: true)
            for name in ["survey-form.png", "survey-thanks.png"] { try? FileManager.default.removeItem(at: shots.appendingPathComponent(name)) }

            let browser = try await ChildProcess(
                URL(fileURLWithPath: "/usr/bin/python3"), arguments: [Self.browserScript, harness.base, good, tampered, expired, shots.path])
            defer { browser.stop() }
            let finished = await eventually(timeout: .seconds(120)) { !browser.isRunning }
            #expect(finished, "the browser script did not finish: \(browser.output)")
            let json = try #require(browser.output.split(separator: "\n").last { $0.hasPrefix("{") })
            let reported = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any], "\(browser.output)")
            // A step that failed in the browser reports itself as "error": show it rather than a missing page.
            try #require(reported["error"] == nil, "\(reported["error"] ?? "")")
            let seen = reported.compactMapValues { $0 as? [String: Any] }

            let form = try #require(seen["form"])
            #expect(form["lang"] as? String == "zh-CN")
            #expect(form["heading"] as? String == "您对我们的处理满意吗？")
            #expect(form["hasForm"] as? Bool == true)
            #expect(form["fitsScreen"] as? Bool == true)
            #expect((form["text"] as? String)?.contains("非常满意") == true)

            let incomplete = try #require(seen["incomplete"])
            #expect(incomplete["errors"] as? [String] == ["请选择满意程度（1 至 5）。", "请选择推荐意愿（0 至 10）。"])
            #expect(incomplete["hasForm"] as? Bool == true)

            let answered = try #require(seen["answered"])
            #expect(answered["heading"] as? String == "感谢您的反馈")
            #expect((answered["text"] as? String)?.contains("酒店经理会重新跟进") == true)
            #expect(seen["again"]?["heading"] as? String == "已提交")
            // An altered link proves nothing about whose it is: the page speaks the browser's language (en-US here).
            #expect(seen["tampered"]?["heading"] as? String == "This link is not valid")
            #expect(seen["expired"]?["heading"] as? String == "链接已过期")
            #expect(FileManager.default.fileExists(atPath: shots.appendingPathComponent("survey-thanks.png").path))
            print("survey screenshots: \(shots.path)/survey-*.png")

            // The answer went through the follow-up action, by the guest: recorded, and the complaint reopened.
            let complaint = try await harness.request(.GET, "/v1/complaints/\(id)", key: harness.admin)
            #expect(complaint.json["status"] as? String == "reopened")
            let timeline = complaint.json["timeline"] as? [[String: Any]] ?? []
            let followUp = try #require(timeline.first { $0["kind"] as? String == "followup_recorded" })
            #expect((followUp["actor"] as? [String: Any])?["role"] as? String == "guest")
            #expect((followUp["details"] as? [String: Any])?["followUp"] as? [String: Any] != nil || followUp["details"] != nil)
            #expect(timeline.filter { $0["kind"] as? String == "followup_recorded" }.count == 1)

            // A second answer with the same link, straight over HTTP: refused, nothing changes.
            let again = try await plainRequest(.POST, harness.base + "/survey/\(good)", key: nil, body: "satisfaction=5&recommend=10",
                                               contentType: "application/x-www-form-urlencoded")
            #expect(again.status == 409)
            #expect(again.headers["referrer-policy"] == "no-referrer")
            let after = try await harness.request(.GET, "/v1/complaints/\(id)", key: harness.admin)
            #expect((after.json["timeline"] as? [[String: Any]])?.count == timeline.count)
        }
    }

    @Test("over HTTP: a satisfied guest leaves it resolved; bad answers get 422 with the form; no secret means no surveys")
    func overHTTP() async throws {
        try await IntakeHarness.run(configure: { $0.surveySecret = Self.secret }) { harness in
            let id = try await Self.resolvedComplaint(harness)
            let token = SurveyToken(complaintID: id, expiresAt: Date().addingTimeInterval(3600), secret: Self.secret).description
            let page = try await plainRequest(.GET, harness.base + "/survey/\(token)", key: nil)
            #expect(page.status == 200)
            #expect(page.headers["content-type"] == "text/html; charset=utf-8")
            #expect(page.headers["cache-control"] == "no-store")
            #expect(page.body.contains("<html lang=\"zh-CN\">"))
            let bad = try await plainRequest(.POST, harness.base + "/survey/\(token)", key: nil,
                                             body: "satisfaction=9&recommend=4&comment=%3Cscript%3E", contentType: "application/x-www-form-urlencoded")
            #expect(bad.status == 422)
            #expect(bad.body.contains("请选择满意程度"))
            #expect(bad.body.contains("&lt;script&gt;") && !bad.body.contains("<script>"), "what the guest typed comes back escaped")
            #expect(bad.body.contains("value=\"4\" checked"))
            let good = try await plainRequest(.POST, harness.base + "/survey/\(token)", key: nil,
                                              body: "satisfaction=5&recommend=10&comment=%E5%BE%88%E5%A5%BD", contentType: "application/x-www-form-urlencoded")
            #expect(good.status == 200)
            #expect(good.body.contains("感谢您的回答，这将帮助我们做得更好。"))
            let complaint = try await harness.request(.GET, "/v1/complaints/\(id)", key: harness.admin)
            #expect(complaint.json["status"] as? String == "resolved")
        }
        try await IntakeHarness.run { harness in
            let page = try await plainRequest(.GET, harness.base + "/survey/v1.abc.1.x", key: nil)
            #expect(page.status == 404)
            #expect(page.body.contains("Surveys are not available here."))
            let chinese = try await plainRequest(.GET, harness.base + "/survey/v1.abc.1.x", key: nil, headers: [("Accept-Language", "zh-CN,zh;q=0.9")])
            #expect(chinese.body.contains("此处未开放问卷。"))
            // Headers of separators only name no language (schemathesis sent ";" and the first
            // version crashed on it): the English page, not a crash.
            for odd in [";", ",", ";,", " ;q=0.5", ""] {
                let page = try await plainRequest(.GET, harness.base + "/survey/v1.abc.1.x", key: nil, headers: [("Accept-Language", odd)])
                #expect(page.status == 404, "Accept-Language \(odd)")
                #expect(page.body.contains("Surveys are not available here."), "Accept-Language \(odd)")
            }
        }
    }
}
