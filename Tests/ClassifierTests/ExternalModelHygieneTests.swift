@testable import Classifier
import ComplaintEvents
import ComplaintTesting
import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization
import Testing

/// The external model receives guests' complaint text: it goes only where configured, encrypted unless
/// to this machine, with the configured token, and every call is counted.
@Suite("External model hygiene", .timeLimit(.minutes(2)))
struct ExternalModelHygieneTests {
    static let input = ComplaintInput(text: "The air conditioning in 1204 is not cooling at all")

    static func plugin(_ url: String, token: String? = nil, timeout: Duration = .seconds(30)) -> HTTPClassifier {
        HTTPClassifier(url: url, timeout: timeout, token: token, logger: Logger(label: "classifier-tests"))
    }

    static func request(_ engine: ClassificationEngine) -> ClassificationRequest {
        let normalized = NormalizedText(input.text)
        return ClassificationRequest(
            complaintID: UUID(), hotelID: "SHA-PD01", channel: "wechat", text: input.text, normalized: normalized, language: "en",
            ruleMatches: engine.matcher.match(normalized))
    }

    @Test("a redirect is not followed: the complaint's text is not sent on, and the built-in result stands")
    func noRedirects() async throws {
        let elsewhere = Mutex(0)
        let router = Router()
        router.post("/classify") { _, _ -> Response in
            Response(status: .temporaryRedirect, headers: [.location: "/elsewhere"])
        }
        router.post("/elsewhere") { _, _ -> Response in
            elsewhere.withLock { $0 += 1 }
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"category":"noise"}"#)))
        }
        let (verdict, outcome) = try await withLoopbackServer(router) { base in
            await Self.plugin(base + "/classify").exchange(Self.request(Repository.engine))
        }
        #expect(verdict == nil)
        #expect(outcome == .errorStatus)
        #expect(elsewhere.withLock { $0 } == 0, "the redirect was followed")
    }

    @Test("the configured token is sent as a bearer token, and each call's outcome is named")
    func tokenAndOutcomes() async throws {
        let authorization = Mutex<String?>(nil)
        let router = Router()
        router.post("/classify") { request, _ -> Response in
            authorization.withLock { $0 = request.headers[.authorization] }
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"category":"noise"}"#)))
        }
        router.post("/nonsense") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"category":"plumbing"}"#)))
        }
        router.post("/broken") { _, _ -> Response in Response(status: .internalServerError) }
        let outcomes = try await withLoopbackServer(router) { base in
            let request = Self.request(Repository.engine)
            return [
                await Self.plugin(base + "/classify", token: "s3cret").exchange(request).1,
                await Self.plugin(base + "/nonsense").exchange(request).1,
                await Self.plugin(base + "/broken").exchange(request).1,
                // Nothing listens (the client retries a refused connection until the timeout).
                await Self.plugin("http://127.0.0.1:9/classify", timeout: .milliseconds(500)).exchange(request).1,
            ]
        }
        #expect(authorization.withLock { $0 } == "Bearer s3cret")
        #expect(outcomes == [.answered, .invalidAnswer, .errorStatus, .failed])
    }

    @Test("plain http is refused except to this machine; the token is read from CLASSIFIER_EXTERNAL_TOKEN")
    func configuration() async throws {
        func load(_ url: String) async throws -> ClassifierConfiguration {
            try await ClassifierConfiguration.load(environment: [
                "CLASSIFIER_RULES_FILE": Repository.rulesFile, "CLASSIFIER_MODEL_FILE": Repository.modelFile,
                "CLASSIFIER_EXTERNAL_URL": url, "CLASSIFIER_EXTERNAL_TOKEN": "s3cret",
            ])
        }
        for url in ["http://model.example/classify", "http://10.0.0.7:8080/classify", "http://127.evil.example/classify"] {
            do {
                _ = try await load(url)
                Issue.record("\(url) was accepted")
            } catch {
                #expect(String(describing: error).contains("CLASSIFIER_EXTERNAL_URL"), "\(error)")
            }
        }
        for url in ["https://model.example/classify", "http://127.0.0.1:8080/classify", "http://localhost/classify", "http://[::1]:80/classify"] {
            let configuration = try await load(url)
            #expect(configuration.externalURL == url)
            #expect(configuration.externalToken == "s3cret")
        }
    }
}
