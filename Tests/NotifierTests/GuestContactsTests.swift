import ComplaintPipeline
import ComplaintTesting
import Foundation
import Hummingbird
import Logging
@testable import Notifier
import Testing

/// Intake's answers to the guest-contact lookup, from a local HTTP server standing in for intake.
@Suite("Guest contact details from intake", .timeLimit(.minutes(1)))
struct GuestContactsTests {
    static let complaint = UUID()

    /// Answers with the status named at the end of the API key the test sends (`key-404` → 404).
    static var router: Router<BasicRequestContext> {
        let router = Router()
        router.get("/v1/complaints/:id") { request, _ -> Response in
            let key = request.headers[.authorization] ?? ""
            let status = Int(key.split(separator: "-").last ?? "") ?? 500
            let body = status == 200 ? #"{"guest":{"name":"Wang Fang","email":"wang@example.com"}}"# : #"{"status":\#(status)}"#
            return Response(status: .init(code: status), body: .init(byteBuffer: .init(string: body)))
        }
        return router
    }

    @Test("200 gives the guest; 404 (the key does not cover the hotel) and 401/403 are retried, never given up")
    func answers() async throws {
        try await withLoopbackServer(Self.router) { base in
            func lookup(_ status: Int) async throws -> GuestContact {
                try await IntakeGuestContacts(baseURL: base, apiKey: "key-\(status)").contact(for: Self.complaint, logger: Logger(label: "test"))
            }
            #expect(try await lookup(200).email == "wang@example.com")
            for (status, code) in [(404, "intake_not_visible"), (401, "intake_unauthorized"), (403, "intake_unauthorized"), (503, "intake_503")] {
                let failure = try await #require(throws: WorkFailure.self) { try await lookup(status) }
                #expect(!failure.isPermanent, "\(status) must be retried")
                #expect(failure.reason.hasPrefix("[\(code)]"), "\(failure.reason)")
            }
        }
    }
}
