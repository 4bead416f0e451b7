import AsyncHTTPClient
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Hummingbird
import NIOCore
import NIOHTTP1
import Testing

/// Calls to receivers outside Redress are bounded as a whole, body included, and keep only so much of it.
@Suite("Bounded HTTP exchanges", .timeLimit(.minutes(1)))
struct BoundedExchangeTests {
    static var router: Router<BasicRequestContext> {
        let router = Router()
        router.post("/trickle") { _, _ -> Response in
            Response(status: .ok, body: ResponseBody { writer in
                try await writer.write(ByteBuffer(string: "o"))
                try await Task.sleep(for: .seconds(10))
                try await writer.write(ByteBuffer(string: "k"))
                try await writer.finish(nil)
            })
        }
        router.post("/long") { _, _ in Response(status: .ok, body: .init(byteBuffer: ByteBuffer(repeating: UInt8(ascii: "x"), count: 100_000))) }
        router.post("/short") { _, _ in Response(status: .accepted, body: .init(byteBuffer: ByteBuffer(string: "queued"))) }
        return router
    }

    /// The default deadline is for answers expected in time: generous, since it is not what those cases test.
    static func post(_ url: String, timeout: Duration = .seconds(30), maximum: Int = 1024) async throws -> BoundedAnswer {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        return try await HTTPClient.shared.boundedExchange(request, timeout: timeout, maximumBodySize: maximum, logger: .complaintTest)
    }

    @Test("an answer within the limits comes whole")
    func whole() async throws {
        let answer = try await withLoopbackServer(Self.router) { try await Self.post($0 + "/short") }
        #expect(answer.status == 202 && String(buffer: answer.body) == "queued" && !answer.isTruncated)
    }

    /// The body comes ten seconds after the headers. Either deadline may be the one that passes (other
    /// suites in this process may hold its threads long enough for the headers' to): what matters is that
    /// the late answer is not waited for.
    @Test("headers in time and a body too late is a deadline passed, not a late answer")
    func trickle() async throws {
        try await withLoopbackServer(Self.router) { base in
            do {
                let answer = try await Self.post(base + "/trickle", timeout: .seconds(1))
                Issue.record("waited for the late body: \(String(buffer: answer.body))")
            } catch is DeadlineExceeded {
            } catch let error as HTTPClientError where error == .deadlineExceeded {
            }
        }
    }

    @Test("a long body is cut, not an error")
    func long() async throws {
        let answer = try await withLoopbackServer(Self.router) { try await Self.post($0 + "/long") }
        #expect(answer.status == 200 && answer.body.readableBytes == 1024 && answer.isTruncated)
    }
}
