import ComplaintTesting
import Foundation
import HotelTime
import Testing

/// Every query value the metrics API reads is checked before PostgreSQL sees it (`department` went to
/// the KPI query as text, so a NUL in it came back as SQLSTATE 22021, a 500 and an error-level log), and a
/// parameter it does not read is refused rather than ignored.
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

    /// Before: `/v1/kpis?hotel=SHA-PD01&hotel=LON-KX02` answered for SHA-PD01 alone with a 200, as if
    /// that had been the question (Access.QueryParameters kept a repeated parameter's first value).
    @Test("a parameter given more than once is a 422 naming query.<name> on every route")
    func repeated() async throws {
        try await MetricsHarness.run { harness in
            for (path, name) in [
                ("/v1/kpis?hotel=SHA-PD01&hotel=LON-KX02", "hotel"), ("/v1/kpis?hotel=SHA-PD01&groupBy=day&groupBy=category", "groupBy"),
                ("/v1/kpis?hotel=SHA-PD01&from=2026-11-01&to=2026-11-30&from=2026-10-01", "from"),
                ("/v1/quality-index?hotel=SHA-PD01&month=2026-11&month=2026-10", "month"), ("/v1/open?hotel=SHA-PD01&hotel=SHA-PD01", "hotel"),
                ("/v1/alerts?hotel=SHA-PD01&state=all&state=all", "state"), ("/v1/live?hotel=SHA-PD01&hotel=LON-KX02", "hotel"),
            ] {
                let reply = try await harness.get(path)
                #expect(reply.status == 422, "\(path): \(reply.status) \(reply.body)")
                #expect(reply.headers["content-type"]?.hasPrefix("application/problem+json") == true, "\(path)")
                let errors = (reply.json["errors"] as? [[String: Any]]) ?? []
                #expect(errors.count == 1 && Self.field(reply) == "query.\(name)", "\(path): \(reply.body)")
                #expect((errors.first?["rule"] as? String)?.contains("given more than once") == true, "\(path): \(reply.body)")
            }
            // Several hotels are one parameter, comma-separated.
            let both = try await harness.get("/v1/kpis?hotel=SHA-PD01,LON-KX02")
            #expect(both.status == 200, "\(both.body)")
        }
    }

    /// Before: `Int("+202")` parsed, so `month=+202-11` was November of the year 202 (openapi.yaml's pattern is digits).
    @Test("a month is four ASCII digits, a hyphen and two")
    func monthDigits() async throws {
        try await MetricsHarness.run { harness in
            for month in ["%2B202-11", "2026-%2B1", "-202-11", "2026-11-", "2026--1", "2026-1"] {
                let reply = try await harness.get("/v1/quality-index?hotel=SHA-PD01&month=\(month)")
                #expect(reply.status == 422 && Self.field(reply) == "query.month", "\(month): \(reply.status) \(reply.body)")
            }
            #expect(try await harness.get("/v1/quality-index?hotel=SHA-PD01&month=2026-11").status == 200)
        }
    }

    /// Before: LocalDate parsed each part with Int(), which takes a sign, so `from=2026-+1-01` was January
    /// (a 200 against openapi.yaml's pattern), and so were `--from`/`--to` of `redress metrics rebuild` and
    /// a policy file's dates; LocalTime took `+7:00`.
    @Test("a date is ASCII digits YYYY-MM-DD, a time HH:MM")
    func dateDigits() async throws {
        for text in ["2026-+1-01", "+202-01-01", "2026-01-+1", "2026-01-\u{0661}\u{0662}", "2026-1-01", "2026-01-1"] {
            #expect(LocalDate(text) == nil, "\(text)")
        }
        #expect(LocalDate("2026-01-01") == LocalDate(year: 2026, month: 1, day: 1))
        for text in ["+7:00", "07:+5", "-0:00"] {
            #expect(LocalTime(text) == nil, "\(text)")
        }
        #expect(LocalTime("07:05") == LocalTime(hour: 7, minute: 5))
        try await MetricsHarness.run { harness in
            for (name, value) in [("from", "2026-%2B1-01"), ("to", "%2B202-11-30"), ("from", "2026-11-%2B1")] {
                let reply = try await harness.get("/v1/kpis?hotel=SHA-PD01&\(name)=\(value)")
                #expect(reply.status == 422 && Self.field(reply) == "query.\(name)", "\(name)=\(value): \(reply.status) \(reply.body)")
            }
            #expect(try await harness.get("/v1/kpis?hotel=SHA-PD01&from=2026-11-01&to=2026-11-30").status == 200)
        }
    }

    /// Before: `GET /v1/kpis?hotelId=SHA-PD01` (intake's spelling) answered every hotel the key covers.
    @Test("an unknown query parameter is a 422 naming query.<name> on every route; what the dashboard sends is answered")
    func unknown() async throws {
        try await MetricsHarness.run { harness in
            for (path, name) in [
                ("/v1/kpis?hotelId=SHA-PD01", "hotelId"), ("/v1/kpis?hotel=SHA-PD01&groupby=day", "groupby"),
                ("/v1/kpis?hotel=SHA-PD01&dept=engineering", "dept"), ("/v1/hotels?hotel=SHA-PD01", "hotel"),
                ("/v1/quality-index?hotel=SHA-PD01&from=2026-11-01", "from"), ("/v1/open?hotels=SHA-PD01", "hotels"),
                ("/v1/alerts?hotel=SHA-PD01&status=all", "status"), ("/v1/live?hotelId=SHA-PD01", "hotelId"),
            ] {
                let reply = try await harness.get(path)
                #expect(reply.status == 422, "\(path): \(reply.status) \(reply.body)")
                #expect(reply.headers["content-type"]?.hasPrefix("application/problem+json") == true, "\(path)")
                #expect(Self.field(reply) == "query.\(name)", "\(path): \(reply.body)")
            }
            // Every unknown one is named, once.
            let two = try await harness.get("/v1/kpis?hotelId=SHA-PD01&dept=x&dept=y")
            #expect((two.json["errors"] as? [[String: Any]])?.compactMap { $0["field"] as? String } == ["query.hotelId", "query.dept"], "\(two.body)")
            // What services/metrics/dashboard/dashboard.js asks for (and redress metrics bench's shapes).
            for path in [
                "/v1/hotels", "/v1/kpis?hotel=SHA-PD01&from=2026-11-01&to=2026-11-30&groupBy=day", "/v1/open?hotel=SHA-PD01",
                "/v1/alerts?hotel=SHA-PD01", "/v1/quality-index?hotel=SHA-PD01",
                "/v1/kpis?hotel=SHA-PD01&category=noise&severity=serious&channel=app&department=engineering",
                "/v1/alerts?hotel=SHA-PD01&state=all", "/v1/quality-index?hotel=SHA-PD01&month=2026-11",
            ] {
                let reply = try await harness.get(path)
                #expect(reply.status == 200, "\(path): \(reply.status) \(reply.body)")
            }
        }
    }
}
