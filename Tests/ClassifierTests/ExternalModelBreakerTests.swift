@testable import Classifier
import ComplaintEvents
import ComplaintPipeline
import ComplaintTesting
import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization
import Testing

/// An external model that is down costs the first complaints their failed calls, then none: the breaker
/// skips it and the built-in plugins decide at once, until one trial call after the cool-down finds it back.
@Suite("The external model's circuit breaker", .timeLimit(.minutes(2)))
struct ExternalModelBreakerTests {
    static let text = "The air conditioning in 1204 is not cooling at all"

    /// Before: every complaint called the dead model (nine requests for nine complaints), each waiting its
    /// whole timeout when it hangs.
    @Test("after five failures in a row the model is not called and its vote is left out; after the cool-down one probe closes it")
    func skipsThenProbes() async throws {
        let requests = Mutex(0)
        let up = Mutex(false)
        let router = Router()
        router.post("/classify") { _, _ -> Response in
            requests.withLock { $0 += 1 }
            guard up.withLock({ $0 }) else { return Response(status: .serviceUnavailable) }
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: #"{"category":"noise","severity":"minor","confidence":0.9,"version":"group-7"}"#)))
        }
        let time = ManualTime()
        let logger = Logger(label: "classifier-tests")
        let breaker = CircuitBreaker(service: "classifier", target: "external_model", clock: time.clock, logger: logger)
        try await withLoopbackServer(router) { base in
            let external = HTTPClassifier(url: base + "/classify", timeout: .seconds(30), breaker: breaker, logger: logger)
            let engine = ClassificationEngine(
                rules: Repository.engine.rules, plugins: Repository.engine.plugins + [external], configuration: Repository.configuration())
            let request = ExternalModelHygieneTests.request(engine)
            for _ in 0..<4 { #expect(await external.call(request).1 == .errorStatus) }
            // Asked and failed, through the engine: the model named as not answering.
            let failed = await engine.classify(ComplaintInput(text: Self.text))
            #expect(failed.explanation.summary?.hasSuffix("; external model did not answer") == true, "\(failed.explanation.summary ?? "")")
            #expect(requests.withLock { $0 } == 5)
            for _ in 0..<3 { #expect(await external.call(request).1 == .skipped) }
            // Through the engine: the built-in result, the model named as skipped (not as silent), no request made.
            let skipped = await engine.classify(ComplaintInput(text: Self.text))
            #expect(skipped.category == .maintenance)
            let summary = skipped.explanation.summary ?? ""
            #expect(summary.contains("; external model skipped after 5 failures in a row (retrying at "), "\(summary)")
            #expect(!summary.contains("did not answer"), "\(summary)")
            #expect(requests.withLock { $0 } == 5, "the model was called while the breaker was open")

            time.advance(30)
            up.withLock { $0 = true }
            let probed = await engine.classify(ComplaintInput(text: Self.text))
            #expect(probed.category == .noise)
            #expect(breaker.state == .closed)
            #expect(await external.call(request).1 == .answered)
            #expect(requests.withLock { $0 } == 7)
        }
    }
}
