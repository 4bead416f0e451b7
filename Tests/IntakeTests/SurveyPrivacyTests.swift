import Access
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import Hummingbird
import HummingbirdTesting
import Intake
import Logging
import NIOHTTP1
import PostgresNIO
import Synchronization
import Testing

/// A survey link is the guest's credential: it stays out of the logs. And a guest's browser gets the
/// survey's page for a database outage or an oversized form, not problem+json.
@Suite("Survey links out of logs, errors as pages", .timeLimit(.minutes(3)))
struct SurveyPrivacyTests {
    @Test("redaction", arguments: [
        ("/survey/v1.0123.99.sig", "/survey/<redacted>"),
        ("/survey/v1.0123.99.sig?x=1", "/survey/<redacted>?x=1"),
        ("/survey/", "/survey/"),
        ("/v1/complaints/abc/notes", "/v1/complaints/abc/notes"),
    ])
    func redaction(path: String, logged: String) {
        #expect(RequestRedaction.redacted(path) == logged)
    }

    @Test("the request log and the unexpected-error log leave the token out")
    func logs() async throws {
        let records = CapturedLogs()
        var logger = Logger(label: "survey-privacy") { _ in records }
        logger.logLevel = .trace
        let router = Router(context: RedressRequestContext.self)
        router.add(middleware: ProblemMiddleware())
        router.add(middleware: RedactingLogRequestsMiddleware(.debug))
        router.get("survey/:token") { _, _ -> String in throw CancellationError() }
        let application = Application(router: router, logger: logger)
        try await application.test(.router) { client in
            try await client.execute(uri: "/survey/v1.secret-token.1.signature", method: .get) { response in
                #expect(response.status == .internalServerError)
            }
        }
        let logged = records.entries.map { "\($0.message) \($0.metadata)" }
        #expect(logged.contains { $0.contains("/survey/<redacted>") && $0.contains("Request") }, "\(logged)")
        #expect(logged.contains { $0.contains("/survey/<redacted>") && $0.contains("request failed") }, "\(logged)")
        #expect(!logged.contains { $0.contains("secret-token") }, "\(logged)")
    }

    @Test("the database away is a 503 page with Retry-After; a form over 16 KiB a 413 page")
    func errorPages() async throws {
        let configuration = try DatabaseConfiguration(url: "postgres://redress:secret@127.0.0.1:1/redress")
        let client = PostgresClient(configuration: configuration.makeClientConfiguration(), backgroundLogger: .complaintTest)
        var intake = IntakeConfiguration(guestKeySecret: "test-guest-key-secret-0123456789")
        intake.surveySecret = SurveyPageTests.secret
        let api = IntakeAPI.standalone(intake, client: client, schema: "intake", databaseTimeout: .seconds(1))
        let token = SurveyToken(complaintID: UUID(), expiresAt: Date().addingTimeInterval(3600), secret: SurveyPageTests.secret).description
        try await withHTTPServer(api) { base in
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { await client.run() }
                let away = try await plainRequest(.GET, base + "/survey/\(token)", key: nil, headers: [("Accept-Language", "zh-CN")])
                #expect(away.status == 503)
                #expect(away.headers["content-type"] == "text/html; charset=utf-8")
                #expect(away.headers["retry-after"] != nil)
                #expect(away.body.contains("请稍后再试"), "\(away.body)")
                let large = try await plainRequest(
                    .POST, base + "/survey/\(token)", key: nil, body: "comment=" + String(repeating: "a", count: 20_000),
                    contentType: "application/x-www-form-urlencoded")
                #expect(large.status == 413)
                #expect(large.headers["content-type"] == "text/html; charset=utf-8")
                #expect(large.body.contains("Your answer is too long"), "\(large.body)")
                group.cancelAll()
            }
        }
    }
}
