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

    static func ask(_ path: String, timeout: Int = 2000, router: Router<BasicRequestContext>) async throws -> DispatcherAnswer {
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

    @Test("no answer in time, an error status or a malformed answer is a failure the fallback handles", arguments: ["/slow", "/broken", "/garbage", "/missing"])
    func failures(path: String) async throws {
        let router = Router()
        router.post("/slow") { _, _ -> Response in
            try await Task.sleep(for: .seconds(3))
            return Self.json(#"{"staffId":"HK-1"}"#)
        }
        router.post("/broken") { _, _ in Self.json(#"{"error":"down"}"#, status: .internalServerError) }
        router.post("/garbage") { _, _ in Self.json(#"{"who":"HK-1"}"#) }
        let answer = try await Self.ask(path, timeout: 200, router: router)
        guard case .failed(let reason) = answer else {
            Issue.record("expected a failure, got \(answer)")
            return
        }
        switch path {
        case "/slow": #expect(reason == "no answer within 200 ms")
        case "/broken": #expect(reason == "HTTP 500")
        case "/garbage": #expect(reason.contains("staffId"))
        default: #expect(reason == "HTTP 404")
        }
    }
}
