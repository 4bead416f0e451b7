import Assignment
import ComplaintEvents
import ComplaintTesting
import Foundation
import Hummingbird
import Logging
import NIOCore
import Testing

@Suite("The group dispatcher over HTTP", .timeLimit(.minutes(1)))
struct DispatcherTests {
    static let candidates = [
        Candidate(member: testHotel().staff[0], openLoad: 1),
        Candidate(member: testHotel().staff[2], openLoad: 0),
    ]
    static let department = Department(code: "housekeeping", name: "Housekeeping", categories: [.cleanliness])

    /// `timeout` in milliseconds; the default is for answers expected in time, generous like the failing
    /// cases' (a loaded machine may hold the test's threads for seconds).
    static func ask(_ path: String, timeout: Int = 10_000, router: Router<BasicRequestContext>) async throws -> DispatcherAnswer {
        try await withLoopbackServer(router) { base in
            let client = DispatcherClient(
                settings: DispatcherSettings(url: base + path, timeoutMilliseconds: timeout), logger: Logger(label: "dispatcher-tests"))
            return await client.ask(facts(language: "zh-CN", vip: true), department: department, candidates: candidates)
        }
    }

    static func json(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    @Test("it gets the complaint and the candidates, and its answer is taken")
    func answers() async throws {
        let router = Router()
        router.post("/assign") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 16)
            let question = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any] ?? [:]
            let people = question["candidates"] as? [[String: Any]] ?? []
            guard question["hotelId"] as? String == "TST-HQ01", question["department"] as? String == "housekeeping",
                  question["language"] as? String == "zh-CN", question["vip"] as? Bool == true,
                  people.map({ $0["staffId"] as? String }) == ["HK-1", "HK-3"], people.first?["openLoad"] as? Int == 1
            else { return Self.json(#"{"error":"unexpected question"}"#, status: .badRequest) }
            return Self.json(#"{"staffId":"HK-3","reason":"speaks Shanghainese"}"#)
        }
        #expect(try await Self.ask("/assign", router: router) == .chose(staffID: "HK-3", reason: "speaks Shanghainese"))
    }

    @Test("a redirect is not followed: the dispatcher's 307 is a failure the fallback handles, and the question goes nowhere else")
    func redirectIsNotFollowed() async throws {
        let router = Router()
        let elsewhere = Counter()
        router.post("/assign") { _, _ -> Response in
            Response(status: .temporaryRedirect, headers: [.location: "/elsewhere"])
        }
        router.post("/elsewhere") { _, _ -> Response in
            await elsewhere.increment()
            return Self.json(#"{"staffId":"HK-1","reason":"followed a redirect"}"#)
        }
        #expect(try await Self.ask("/assign", router: router) == .failed("HTTP 307"))
        #expect(await elsewhere.value == 0)
    }

    /// Counts the calls a route got.
    actor Counter {
        var value = 0
        func increment() { value += 1 }
    }

    @Test("no answer in time, an error status or a malformed answer is a failure the fallback handles", arguments: ["/slow", "/trickle", "/broken", "/garbage", "/missing"])
    func failures(path: String) async throws {
        let router = Router()
        router.post("/slow") { _, _ -> Response in
            try await Task.sleep(for: .seconds(10))
            return Self.json(#"{"staffId":"HK-1"}"#)
        }
        // Headers at once, the body ten seconds later: the timeout covers the whole answer, not just
        // its headers (AsyncHTTPClient's deadline ends there).
        router.post("/trickle") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody { writer in
                try await writer.write(ByteBuffer(string: #"{"staffId":"#))
                try await Task.sleep(for: .seconds(10))
                try await writer.write(ByteBuffer(string: #""HK-1"}"#))
                try await writer.finish(nil)
            })
        }
        router.post("/broken") { _, _ in Self.json(#"{"error":"down"}"#, status: .internalServerError) }
        router.post("/garbage") { _, _ in Self.json(#"{"who":"HK-1"}"#) }
        // The answers that come at once get a generous timeout: other suites in this process load models
        // and may hold its threads for seconds, and the deadline is not what those cases test.
        let timeout = ["/slow", "/trickle"].contains(path) ? 1000 : 10_000
        let answer = try await Self.ask(path, timeout: timeout, router: router)
        guard case .failed(let reason) = answer else {
            Issue.record("expected a failure, got \(answer)")
            return
        }
        switch path {
        case "/slow", "/trickle": #expect(reason == "no answer within 1000 ms")
        case "/broken": #expect(reason == "HTTP 500")
        case "/garbage": #expect(reason.contains("staffId"))
        default: #expect(reason == "HTTP 404")
        }
    }
}
