@testable import Classifier
import ComplaintEvents
import ComplaintTesting
import Foundation
import Hummingbird
import Logging
import NIOCore
import Testing

/// An external model may make a complaint more serious, never switch off the "never read serious as
/// minor" safety net: with weight 3 and a missing confidence read as 1, its "minor" kept the blended
/// chance of serious under the threshold and the floor, so an unsure complaint stayed minor unflagged.
@Suite("External model and the serious safety net", .timeLimit(.minutes(2)))
struct ExternalSeverityTests {
    /// A loopback model that always answers `answer`.
    static func router(answering answer: String) -> Router<BasicRequestContext> {
        let router = Router()
        router.post("/classify") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: answer)))
        }
        return router
    }

    static func httpPlugin(_ url: String, timeout: Duration = .seconds(30)) -> HTTPClassifier {
        HTTPClassifier(url: url, timeout: timeout, logger: Logger(label: "classifier-tests"))
    }

    /// The shipped engine (its model loaded once for all tests) with an external model at `url` after
    /// its plugins, as `CLASSIFIER_PLUGINS=keyword,logistic,http` builds it.
    static func shippedEngine(withModelAt url: String, timeout: Duration = .seconds(30)) -> ClassificationEngine {
        ClassificationEngine(
            rules: Repository.engine.rules, plugins: Repository.engine.plugins + [httpPlugin(url, timeout: timeout)], configuration: Repository.configuration())
    }

    /// SeriousCueTests' own unsure case: the built-in plugins give serious 0.35 while minor wins.
    @Test("a built-in unsure_serious verdict stays serious for review when the external model says minor")
    func unsureStaysSerious() async throws {
        let rules = RuleSet(version: "t", categoryRules: [], severityRules: [], sentiment: .init())
        let builtIn = SeriousCueTests.FixedSeverity(severities: [0.45, 0.20, 0.35])
        let alone = await ClassificationEngine(rules: rules, plugins: [builtIn], seriousThreshold: 0.3)
            .classify(ComplaintInput(text: "the thing in the room"))
        #expect(alone.explanation.matchedRules.contains("unsure_serious"))
        let result = try await withLoopbackServer(Self.router(answering: #"{"category":"maintenance","severity":"minor"}"#)) { base in
            let engine = ClassificationEngine(rules: rules, plugins: [builtIn, Self.httpPlugin(base + "/classify")], seriousThreshold: 0.3)
            return await engine.classify(ComplaintInput(text: "the thing in the room"))
        }
        #expect(result.severity == .serious)
        #expect(result.flags.needsHumanReview)
        #expect(result.explanation.matchedRules.contains("unsure_serious"))
        // The explanation still says what the external model thought.
        #expect(result.explanation.summary?.contains("external model: maintenance, minor, no confidence given") == true, "\(result.explanation.summary ?? "")")
    }

    /// The shipped engine on the serious cue texts it is unsure about (no rule cue decides them).
    @Test("the shipped engine's unsure serious complaints stay serious when a sure external model says minor or moderate")
    func shippedEngine() async throws {
        let texts = [
            "There are bare wires sticking out behind the headboard, just thought you should know.",
            "The light over the mirror has water dripping into the light fitting from the room above.",
            "The balcony railing is loose, it moves when my son leans on it.",
            "Our room door doesn't latch, anyone could push it open at night.",
            "The milk at breakfast was sour, the carton said use by last Tuesday.",
            "My father is diabetic and the insulin fridge we booked was never put in the room.",
            "The receptionist kept asking where I'm really from before handing over the key.",
            "Something smells like burning plastic near the socket by the desk.",
            "The kettle's cable is frayed near the plug.",
            "The glass shower door has a long crack in it.",
        ]
        var unsure: [String] = []
        for text in texts {
            let result = await Repository.engine.classify(ComplaintInput(text: text))
            if result.explanation.matchedRules.contains("unsure_serious") || result.explanation.matchedRules.contains("model_serious") {
                unsure.append(text)
            }
        }
        try #require(!unsure.isEmpty, "no built-in example the model alone calls serious")
        let candidates = unsure
        for answer in [
            #"{"category":"maintenance","severity":"minor"}"#, #"{"category":"maintenance","severity":"moderate","confidence":0.95}"#,
        ] {
            let results = try await withLoopbackServer(Self.router(answering: answer)) { base in
                let engine = Self.shippedEngine(withModelAt: base + "/classify")
                var results: [Classification] = []
                for text in candidates { results.append(await engine.classify(ComplaintInput(text: text))) }
                return results
            }
            for (text, result) in zip(candidates, results) {
                #expect(result.severity == .serious, "\(answer): \(text) → \(result.severity.rawValue): \(result.explanation.summary ?? "")")
                // Serious outright (the blend still says so), or serious for a person to check.
                #expect(result.flags.needsHumanReview || result.explanation.matchedRules.contains("model_serious"), "\(answer): \(text): \(result.explanation.matchedRules) \(result.explanation.summary ?? "")")
                #expect(result.explanation.summary?.contains("external model") == true)
            }
        }
    }

    @Test("the external model still raises severity, and a silent one is named in the explanation")
    func raisesAndSilence() async throws {
        let text = "The bedside lamp flickers now and then."
        let raised = try await withLoopbackServer(Self.router(answering: #"{"category":"maintenance","severity":"serious","confidence":0.95}"#)) { base in
            await Self.shippedEngine(withModelAt: base + "/classify").classify(ComplaintInput(text: text))
        }
        #expect(raised.severity == .serious)
        // Nothing listens (the client retries a refused connection until the timeout).
        let silent = await Self.shippedEngine(withModelAt: "http://127.0.0.1:9/classify", timeout: .milliseconds(500)).classify(ComplaintInput(text: text))
        #expect(silent.explanation.summary?.contains("external model did not answer") == true, "\(silent.explanation.summary ?? "")")
        let builtIn = await Repository.engine.classify(ComplaintInput(text: text))
        #expect(builtIn.explanation.summary?.contains("external model") == false)
    }
}
