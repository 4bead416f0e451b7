import Access
import AsyncHTTPClient
@testable import Classifier
import ComplaintEvents
@testable import ComplaintPipeline
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
    @Test("a refused connection is a failed call within its timeout")
    func refused() async throws {
        // Held for the whole test, so no other test's server can be given the port.
        let down = try RefusingLoopbackPort()
        defer { withExtendedLifetime(down) {} }
        let timeout = Duration.seconds(1)
        let external = HTTPClassifier(url: "http://127.0.0.1:\(down.port)/classify", timeout: timeout, logger: Logger(label: "classifier-tests"))
        let request = ExternalModelHygieneTests.request(Repository.engine)
        let (verdict, outcome) = await external.call(request)
        #expect(verdict == nil)
        #expect(outcome == .failed)
    }

    /// Before, a `409` (a call with the same key still in progress: the model is up) was `error_status` and
    /// counted towards the breaker: five of them in a row, as after a rebalance, opened it.
    @Test("a 409 abstains as in_progress and does not count towards the breaker")
    func conflictIsNotABreakerFailure() async throws {
        let router = Router()
        router.post("/classify") { _, _ -> Response in Response(status: .conflict) }
        let logger = Logger(label: "classifier-tests")
        let breaker = CircuitBreaker(service: "classifier", target: "external_model", clock: ManualTime().clock, logger: logger)
        let outcomes = try await Self.withServer(router) { url in
            let external = HTTPClassifier(url: url, timeout: .seconds(30), breaker: breaker, logger: logger)
            let request = ExternalModelHygieneTests.request(Repository.engine)
            var outcomes: [HTTPClassifier.Outcome] = []
            for _ in 0..<7 {
                let (verdict, outcome) = await external.call(request)
                #expect(verdict == nil)
                outcomes.append(outcome)
            }
            return outcomes
        }
        #expect(outcomes == Array(repeating: .inProgress, count: 7))
        #expect(breaker.state == .closed)
    }

    /// Before, a 409 counted as the model answering: a half-open breaker's trial call that met a 409 (the
    /// model hanging, its idempotency layer still answering for keys in flight) closed the breaker and
    /// reset its cool-down, and every complaint paid the timeout again.
    @Test("a 409 on the half-open breaker's trial call neither closes it nor counts as a failure")
    func conflictOnTrialKeepsBreakerHalfOpen() async throws {
        let failing = Mutex(5)
        let router = Router()
        router.post("/classify") { _, _ -> Response in
            failing.withLock { left in
                guard left > 0 else { return Response(status: .conflict) }
                left -= 1
                return Response(status: .internalServerError)
            }
        }
        let logger = Logger(label: "classifier-tests")
        let time = ManualTime()
        let breaker = CircuitBreaker(service: "classifier", target: "external_model", clock: time.clock, logger: logger)
        try await Self.withServer(router) { url in
            let external = HTTPClassifier(url: url, timeout: .seconds(30), breaker: breaker, logger: logger)
            let request = ExternalModelHygieneTests.request(Repository.engine)
            for _ in 0..<5 { _ = await external.call(request) }
            #expect(await external.call(request).1 == .skipped)
            time.advance(3600)
            #expect(await external.call(request).1 == .inProgress)
            #expect(breaker.state == .halfOpen(probing: false))
        }
    }

    /// With connection retries off (as the notifier's client has them), one refused connection attempt fails
    /// every call then waiting for a connection to the model, and the circuit breaker counts each: six lanes
    /// meeting one refusal from a model pod being replaced opened it for 30 s. The model's client retries
    /// within the call's (short) timeout instead; both keep redirects off and idle connections 60 s.
    @Test("the external model's client tries a refused connection again within the call's timeout; the notifier's fails it at once")
    func connectionRetries() {
        let model = HTTPClient.outboundConfiguration(failingFast: false)
        let notifier = HTTPClient.outboundConfiguration(failingFast: true)
        #expect(model.connectionPool.retryConnectionEstablishment)
        #expect(!notifier.connectionPool.retryConnectionEstablishment)
        #expect(model.connectionPool.idleTimeout == .seconds(60))
        #expect(notifier.connectionPool.idleTimeout == .seconds(60))
    }

    /// Before, a call carried only Content-Type (and Authorization): the stage's retry after its transaction
    /// failed, or a redelivery after a crash, asked the model again with nothing tying the two calls together.
    @Test("every call about a complaint carries its id and body hash as Idempotency-Key, the same on a repeat; a text without a complaint none")
    func idempotencyKey() async throws {
        let calls = Recorder()
        let router = Self.recordingRouter(calls)
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
        let keys = calls.received
        #expect(keys.count == 4)
        guard keys.count == 4 else { return }
        #expect(keys[0].key?.hasPrefix(event.data.complaintID.uuidString.lowercased() + ":") == true)
        #expect(keys[0].key == keys[1].key)
        #expect(keys[2].key?.hasPrefix(other.uuidString.lowercased() + ":") == true)
        #expect(keys[3].key == nil)
        for call in keys.prefix(3) { #expect(call.key == Self.expectedKey(call)) }
    }

    /// What a call's key must be: `[<scope>:]<complaintId>:<hash>` of the body the model received, byte for byte
    /// (``HTTPClassifier/idempotencyKey(for:body:scope:)``, checked against a SHA-256 test vector in ``keyHash()``).
    static func expectedKey(_ call: Call, scope: String? = nil) -> String? {
        let json = try? JSONSerialization.jsonObject(with: call.body) as? [String: Any]
        guard let id = (json?["complaintId"] as? String).flatMap(UUID.init(uuidString:)) else { return nil }
        var request = ExternalModelHygieneTests.request(Repository.engine)
        request.complaintID = id
        return HTTPClassifier.idempotencyKey(for: request, body: call.body, scope: scope)
    }

    @Test("the key's hash is the hex of the first 16 bytes of the body's SHA-256")
    func keyHash() {
        var request = ExternalModelHygieneTests.request(Repository.engine)
        request.complaintID = UUID(uuidString: "0B6FD521-0B71-4184-85D7-023342DD2953")
        // SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223 b00361a396177a9cb410ff61f20015ad (FIPS 180-2).
        #expect(HTTPClassifier.idempotencyKey(for: request, body: Data("abc".utf8), scope: nil)
            == "0b6fd521-0b71-4184-85d7-023342dd2953:ba7816bf8f01cfea414140de5dae2223")
        #expect(HTTPClassifier.idempotencyKey(for: request, body: Data("abc".utf8), scope: "replay-x")
            == "replay-x:0b6fd521-0b71-4184-85d7-023342dd2953:ba7816bf8f01cfea414140de5dae2223")
        request.complaintID = nil
        #expect(HTTPClassifier.idempotencyKey(for: request, body: Data("abc".utf8), scope: "replay-x") == nil)
    }

    /// One call as the model received it.
    struct Call: Sendable {
        var key: String?
        var body: Data
    }

    /// The calls a ``recordingRouter(_:)`` received.
    final class Recorder: Sendable {
        let calls = Mutex<[Call]>([])
        var received: [Call] { calls.withLock { $0 } }
    }

    /// A model answering `noise` that records each call's key and body.
    static func recordingRouter(_ recorder: Recorder) -> Router<BasicRequestContext> {
        let router = Router()
        router.post("/classify") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 16)
            recorder.calls.withLock { $0.append(Call(key: request.headers[.idempotencyKey], body: Data(body.readableBytesView))) }
            return Response(
                status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"category":"noise"}"#)))
        }
        return router
    }

    /// Before, the key was the complaint's id alone: after a deploy that detects the language otherwise, a
    /// redelivered complaint was asked with a different body under the same key, which a server keeping keys
    /// refuses (422), and the plugin abstained and counted a failure towards its breaker.
    @Test("the key follows the body: the same complaint asked with another body gets another key, the same body the same key")
    func keyFollowsBody() async throws {
        let calls = Recorder()
        let request = ExternalModelHygieneTests.request(Repository.engine)
        var redetected = request
        redetected.language = "zh-CN"
        let asking = [request, request, redetected]
        try await Self.withServer(Self.recordingRouter(calls)) { url in
            let external = HTTPClassifier(url: url, timeout: .seconds(30), logger: Logger(label: "classifier-tests"))
            for asked in asking {
                let (_, outcome) = await external.call(asked)
                #expect(outcome == .answered)
            }
        }
        let received = calls.received
        #expect(received.count == 3)
        guard received.count == 3 else { return }
        #expect(received[0].body == received[1].body)
        #expect(received[0].key == received[1].key, "the same question, the same key")
        #expect(received[0].body != received[2].body)
        #expect(received[0].key != received[2].key, "another body, another key")
        for call in received { #expect(call.key == Self.expectedKey(call)) }
    }

    /// Before, `redress replay classifier --with-external` sent the live calls' keys: a model answering repeats
    /// from its store gave the replay the first answers, so a retrained model behind the same URL showed no
    /// change, and a replay beside a live call in progress could be refused (409).
    @Test("a replay-scoped plugin (built from the configuration as the replay does) sends its own key for the same complaint and body")
    func replayScope() async throws {
        let calls = Recorder()
        let request = ExternalModelHygieneTests.request(Repository.engine)
        let scope = "replay-classifier_replay_1796560000"
        try await Self.withServer(Self.recordingRouter(calls)) { url in
            let live = HTTPClassifier(url: url, timeout: .seconds(30), logger: Logger(label: "classifier-tests"))
            var configuration = Repository.configuration(plugins: ["keyword", "http"])
            configuration.externalURL = url
            configuration.externalTimeout = .seconds(30)
            configuration.externalKeyScope = scope
            let engine = try ClassifierService.makeEngine(configuration: configuration, logger: Logger(label: "classifier-tests"))
            let replay = try #require(engine.plugins.compactMap { $0 as? HTTPClassifier }.first)
            _ = await live.call(request)
            _ = await replay.call(request)
        }
        let received = calls.received
        #expect(received.count == 2)
        guard received.count == 2 else { return }
        #expect(received[0].body == received[1].body)
        #expect(received[0].key != received[1].key)
        #expect(received[0].key == Self.expectedKey(received[0]))
        #expect(received[1].key == Self.expectedKey(received[1], scope: scope))
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
