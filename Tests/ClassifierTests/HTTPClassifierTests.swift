import Access
@testable import Classifier
import ComplaintEvents
import ComplaintTesting
import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization
import Testing

@Suite("External HTTP plugin", .timeLimit(.minutes(2)))
struct HTTPClassifierTests {
    /// Runs a loopback receiver with `router`; `body` gets its `/classify` URL.
    static func withServer<Result: Sendable>(
        _ router: Router<BasicRequestContext>, _ body: @Sendable (String) async throws -> Result
    ) async throws -> Result {
        try await withLoopbackServer(router) { base in try await body(base + "/classify") }
    }

    /// The shipped engine with the external model after its plugins (the model file is loaded once, for
    /// all tests: loading it again per test kept the test pool's threads busy for seconds, long enough
    /// for a loopback model's answer to miss its timeout).
    static func engine(url: String, timeout: Duration) throws -> ClassificationEngine {
        let external = HTTPClassifier(url: url, timeout: timeout, logger: Logger(label: "classifier-tests"))
        return ClassificationEngine(rules: Repository.engine.rules, plugins: Repository.engine.plugins + [external], configuration: Repository.configuration())
    }

    static let text = "The air conditioning in 1204 is not cooling at all"

    @Test("an answering external model decides the category")
    func answers() async throws {
        let router = Router()
        router.post("/classify") { request, context -> Response in
            let body = try await request.body.collect(upTo: 1 << 16)
            let json = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]
            #expect(json?["text"] as? String == Self.text)
            #expect(json?["language"] as? String == "en")
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: #"{"category":"noise","severity":"minor","confidence":0.9,"version":"group-7"}"#)))
        }
        let result = try await Self.withServer(router) { url in
            try await Self.engine(url: url, timeout: .seconds(30)).classify(ComplaintInput(text: Self.text))
        }
        #expect(result.category == .noise)
        #expect(result.explanation.classifier == "http")
    }

    @Test("a slow external model times out and the built-in result stands")
    func timesOut() async throws {
        let router = Router()
        router.post("/classify") { _, _ -> Response in
            try? await Task.sleep(for: .seconds(5))
            return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: #"{"category":"noise"}"#)))
        }
        let builtIn = await Repository.engine.classify(ComplaintInput(text: Self.text))
        let result = try await Self.withServer(router) { url in
            try await Self.engine(url: url, timeout: .milliseconds(200)).classify(ComplaintInput(text: Self.text))
        }
        #expect(result.category == builtIn.category)
        #expect(result.category == .maintenance)
        #expect(result.severity == builtIn.severity)
    }

    /// Headers at once, the body seconds later: the timeout covers the whole answer (AsyncHTTPClient's
    /// own deadline ends with the headers, and the rest waited for its 90-second read timeout).
    @Test("an external model that sends its headers and then trickles its body times out too")
    func trickles() async throws {
        let router = Router()
        router.post("/classify") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody { writer in
                try await writer.write(ByteBuffer(string: #"{"category":"#))
                try await Task.sleep(for: .seconds(10))
                try await writer.write(ByteBuffer(string: #""noise"}"#))
                try await writer.finish(nil)
            })
        }
        let result = try await Self.withServer(router) { url in
            try await Self.engine(url: url, timeout: .seconds(1)).classify(ComplaintInput(text: Self.text))
        }
        #expect(result.category == .maintenance, "the built-in result, not the late answer")
        #expect(result.explanation.classifier != "http")
    }

    /// Before, the plugin's client tried a refused connection again until the call's deadline: a model that
    /// was down cost each complaint the whole timeout (here 10 s) until the breaker opened, though nothing
    /// could answer. AsyncHTTPClient reports the refusal either way, and the outcome is `failed` either way:
    /// only when it comes tells the two apart.
    @Test("a refused connection fails the call at once, not at its timeout")
    func refused() async throws {
        // Held for the whole test, so no other test's server can be given the port.
        let down = try RefusingLoopbackPort()
        defer { withExtendedLifetime(down) {} }
        let timeout = Duration.seconds(10)
        let external = HTTPClassifier(url: "http://127.0.0.1:\(down.port)/classify", timeout: timeout, logger: Logger(label: "classifier-tests"))
        let request = ExternalModelHygieneTests.request(Repository.engine)
        let clock = ContinuousClock()
        let start = clock.now
        let (verdict, outcome) = await external.call(request)
        let elapsed = clock.now - start
        #expect(verdict == nil)
        #expect(outcome == .failed)
        #expect(elapsed < timeout / 2, "a refused call took \(elapsed)")
    }

    /// Before, a call carried only Content-Type (and Authorization): the stage's retry after its transaction
    /// failed, or a redelivery after a crash, asked the model again with nothing tying the two calls together.
    @Test("every call about a complaint carries its id as Idempotency-Key, the same on a repeat; a text without a complaint none")
    func idempotencyKey() async throws {
        let keys = Mutex<[String?]>([])
        let router = Router()
        router.post("/classify") { request, _ -> Response in
            keys.withLock { $0.append(request.headers[.idempotencyKey]) }
            return Response(
                status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"category":"noise"}"#)))
        }
        var received = try EventFixtures.received()
        received.data.text = Self.text
        let event = received
        let other = UUID()
        try await Self.withServer(router) { url in
            let engine = try Self.engine(url: url, timeout: .seconds(30))
            // What the stage prepares on each attempt (ClassifierHandler.prepare), twice for one event.
            _ = await engine.assess(ComplaintInput(event.data))
            _ = await engine.assess(ComplaintInput(event.data))
            _ = await engine.assess(ComplaintInput(complaintID: other, text: Self.text))
            _ = await engine.assess(ComplaintInput(text: Self.text))
        }
        let id = event.data.complaintID.uuidString.lowercased()
        #expect(keys.withLock { $0 } == [id, id, other.uuidString.lowercased(), nil])
    }

    @Test("an external model that answers nonsense or an error is ignored")
    func malformed() async throws {
        let router = Router()
        router.post("/classify") { _, _ -> Response in
            Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: #"{"category":"plumbing"}"#)))
        }
        router.post("/fail") { _, _ -> Response in Response(status: .internalServerError) }
        try await Self.withServer(router) { url in
            let nonsense = try await Self.engine(url: url, timeout: .seconds(30)).classify(ComplaintInput(text: Self.text))
            #expect(nonsense.category == .maintenance)
            let failing = try await Self.engine(url: url.replacingOccurrences(of: "/classify", with: "/fail"), timeout: .seconds(30))
                .classify(ComplaintInput(text: Self.text))
            #expect(failing.category == .maintenance)
        }
    }
}
