import ComplaintTesting
import Foundation
import Testing

/// Every query value the metrics API reads is checked before PostgreSQL sees it: `department` went to
/// the KPI query as text, so a NUL in it came back as SQLSTATE 22021, a 500 and an error-level log.
@Suite("metrics query parameters", .timeLimit(.minutes(3)))
struct QueryValidationTests {
    static func field(_ reply: HTTPReply) -> String? {
        (reply.json["errors"] as? [[String: Any]])?.first?["field"] as? String
    }

    @Test("a NUL in any query value is a 422 naming query.<name>")
    func nul() async throws {
        try await MetricsHarness.run { harness in
            for (path, name) in [
                ("/v1/kpis", "department"), ("/v1/kpis", "hotel"), ("/v1/kpis", "from"), ("/v1/kpis", "to"), ("/v1/kpis", "groupBy"),
                ("/v1/kpis", "category"), ("/v1/kpis", "severity"), ("/v1/kpis", "channel"),
                ("/v1/alerts", "state"), ("/v1/alerts", "hotel"), ("/v1/quality-index", "month"), ("/v1/quality-index", "hotel"),
                ("/v1/open", "hotel"),
            ] {
                for value in ["%00", "front%00desk"] {
                    let query = name == "hotel" ? "\(name)=\(value)" : "hotel=SHA-PD01&\(name)=\(value)"
                    let reply = try await harness.get("\(path)?\(query)")
                    #expect(reply.status == 422, "\(path)?\(query): \(reply.status) \(reply.body)")
                    #expect(reply.headers["content-type"]?.hasPrefix("application/problem+json") == true, "\(path)?\(query)")
                    #expect(Self.field(reply) == "query.\(name)", "\(path)?\(query): \(reply.body)")
                }
            }
            // A department without one is a filter as before.
            let filtered = try await harness.get("/v1/kpis?hotel=SHA-PD01&department=front_office")
            #expect(filtered.status == 200, "\(filtered.body)")
        }
    }
}
