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

    /// A receiver whose answer never ends: it writes for as long as the connection takes it (the client's
    /// back-pressure holds a write that does not fit), on `/slow` a byte every 100 ms, and says on `ended`
    /// when a write fails, which is when the connection is gone.
    static func endless(_ ended: AsyncStream<Void>.Continuation) -> Router<BasicRequestContext> {
        let router = Router()
        router.post("/endless") { _, _ -> Response in
            Response(status: .ok, body: ResponseBody { writer in
                let chunk = ByteBuffer(repeating: UInt8(ascii: "x"), count: 16 * 1024)
                do {
                    while true { try await writer.write(chunk) }
                } catch {
                    ended.yield()
                    throw error
                }
            })
        }
        router.post("/slow") { _, _ -> Response in
            Response(status: .ok, body: ResponseBody { writer in
                do {
                    while true {
                        try await writer.write(ByteBuffer(string: "x"))
                        try await Task.sleep(for: .milliseconds(100))
                    }
                } catch {
                    ended.yield()
                    throw error
                }
            })
        }
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

    /// The exchange has what it keeps long before its 60 s deadline; a connection it left open (the rest of
    /// the body unread) would hold the receiver's writes, and a slot of the client's pool, until then.
    @Test("a body cut at the limit ends its connection at once, not at the deadline")
    func cutEndsConnection() async throws {
        let (ended, endedContinuation) = AsyncStream<Void>.makeStream()
        try await withLoopbackServer(Self.endless(endedContinuation)) { base in
            let answer = try await Self.post(base + "/endless", timeout: .seconds(60))
            #expect(answer.status == 200 && answer.body.readableBytes == 1024 && answer.isTruncated)
            let closed = try? await withDeadline(.seconds(20)) {
                for await _ in ended { return true }
                return false
            }
            #expect(closed == true, "the receiver was still writing into the connection 20 s after the body was cut")
        }
    }

    /// The body is still coming when the deadline passes: the exchange gives up, and the connection with it.
    @Test("a body still coming at the deadline ends its connection there")
    func lateEndsConnection() async throws {
        let (ended, endedContinuation) = AsyncStream<Void>.makeStream()
        try await withLoopbackServer(Self.endless(endedContinuation)) { base in
            do {
                let answer = try await Self.post(base + "/slow", timeout: .seconds(1))
                Issue.record("waited for an endless body: \(answer.body.readableBytes) bytes")
            } catch is DeadlineExceeded {
            } catch let error as HTTPClientError where error == .deadlineExceeded {
            }
            let closed = try? await withDeadline(.seconds(20)) {
                for await _ in ended { return true }
                return false
            }
            #expect(closed == true, "the receiver was still writing into the connection 20 s after the deadline")
        }
    }

    @Test("a long body is cut, not an error")
    func long() async throws {
        let answer = try await withLoopbackServer(Self.router) { try await Self.post($0 + "/long") }
        #expect(answer.status == 200 && answer.body.readableBytes == 1024 && answer.isTruncated)
    }
}
