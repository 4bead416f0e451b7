@testable import Classifier
import ComplaintEvents
import ComplaintTesting
import Foundation
import Hummingbird
import Logging
import NIOCore
import Testing

/// Complaints in a script the built-in model does not read (Cyrillic, Hangul, Arabic, Thai, kana) were
/// taken for blank text: no plugin was asked (not even the group's own model), and they went out as
/// `other`, `moderate`, "no text to classify", in English. And an external answer without a confidence
/// that alone decided the category passed the review threshold.
@Suite("Text the built-in model cannot read, and external guesses", .timeLimit(.minutes(2)))
struct UnreadScriptTests {
    /// "Fire in the room" and the like in scripts the built-in model does not read.
    static let unread: [(text: String, script: String, language: String)] = [
        ("пожар в номере, дым в коридоре", "Cyrillic", "und-Cyrl"),
        ("방에 불이 났어요 연기가 나요", "Hangul", "ko"),
        ("يوجد حريق في الغرفة", "Arabic", "und-Arab"),
        ("ห้องมีไฟไหม้", "Thai", "th"),
        ("へやがさむいです、エアコンがこわれています", "Japanese kana", "ja"),
    ]

    @Test("text in another script is not blank: serious for a person to read, named, in its language", arguments: unread)
    func unreadIsSeriousForReview(text: String, script: String, language: String) async {
        #expect(!NormalizedText(text).isBlank)
        let result = await Repository.engine.classify(ComplaintInput(text: text))
        #expect(result.severity == .serious)
        #expect(result.priority == 1)
        #expect(result.flags.needsHumanReview)
        #expect(result.category == .other)
        #expect(result.language == language)
        #expect(result.explanation.matchedRules.contains("unread_script"))
        let summary = result.explanation.summary ?? ""
        #expect(summary.contains("text in a script the built-in model does not read (\(script))"), "\(summary)")
        #expect(summary.contains("serious until a person has read it"), "\(summary)")
        #expect(!summary.contains("no text to classify"), "\(summary)")
    }

    @Test("the source's language tag is kept for such text unless it says Chinese or English", arguments: [
        ("пожар в номере", "ru", "ru"),
        ("пожар в номере", "uk-UA", "uk-UA"),
        ("пожар в номере", "en-GB", "und-Cyrl"),
        ("방에 불이 났어요", "ko-KR", "ko-KR"),
        ("방에 불이 났어요", "not a tag!", "ko"),
    ])
    func hintKept(text: String, hint: String, expected: String) async {
        #expect(await Repository.engine.classify(ComplaintInput(text: text, languageHint: hint)).language == expected)
    }

    /// A loopback model that answers `category` with the language it was sent as its version.
    static func echoingModel(_ answer: String) -> Router<BasicRequestContext> {
        let router = Router()
        router.post("/classify") { request, context -> Response in
            let body = try await request.body.collect(upTo: 64 * 1024)
            let json = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]
            let language = json?["language"] as? String ?? "none"
            let reply = answer.replacingOccurrences(of: "LANG", with: language)
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: reply)))
        }
        return router
    }

    @Test("the external model is asked for text in another script, and its answer stands")
    func externalModelAsked() async throws {
        let answer = #"{"category":"safety_security","severity":"serious","confidence":0.9,"version":"LANG"}"#
        let results = try await withLoopbackServer(Self.echoingModel(answer)) { base in
            let engine = ExternalSeverityTests.shippedEngine(withModelAt: base + "/classify")
            var results: [Classification] = []
            for (text, hint) in [("пожар в номере", "ru"), ("ห้องมีไฟไหม้", "th-TH")] {
                results.append(await engine.classify(ComplaintInput(text: text, languageHint: hint)))
            }
            return results
        }
        for (result, language) in zip(results, ["ru", "th-TH"]) {
            #expect(result.category == .safetySecurity)
            #expect(result.severity == .serious)
            #expect(result.language == language)
            #expect(!result.explanation.matchedRules.contains("unread_script"))
            let summary = result.explanation.summary ?? ""
            #expect(summary.contains("external model \(language): safety_security, serious, confidence 0.9"), "\(summary)")
            #expect(summary.contains("most of the text is in a script the built-in model does not read"), "\(summary)")
        }
    }

    @Test("Chinese and English are read as before", arguments: [
        ("空调不制冷，房间很热", "zh-CN"),
        ("The air conditioning is not cooling and the room is hot", "en"),
        ("Wi-Fi一直连不上，房间号1203", "zh-CN"),
        ("The wifi keeps dropping, можно проверить?", "en"),
    ])
    func chineseAndEnglishUnchanged(text: String, language: String) async {
        let result = await Repository.engine.classify(ComplaintInput(text: text))
        #expect(result.language == language)
        #expect(!result.explanation.matchedRules.contains("unread_script"))
        #expect(result.explanation.summary?.contains("does not read") == false)
        #expect(result.category != .other)
    }

    @Test("an external answer without a confidence that alone decides the category is for a person to check", arguments: [
        ("空调不制冷，房间很热", #"{"category":"maintenance","severity":"moderate"}"#, true),
        ("The air conditioning is not cooling", #"{"category":"maintenance","severity":"moderate"}"#, true),
        ("空调不制冷，房间很热", #"{"category":"maintenance","severity":"moderate","confidence":0.9}"#, false),
        ("The air conditioning is not cooling", #"{"category":"maintenance","severity":"moderate","confidence":0.9}"#, false),
    ])
    func unconfirmedGuessReviewed(text: String, answer: String, flagged: Bool) async throws {
        let result = try await withLoopbackServer(ExternalSeverityTests.router(answering: answer)) { base in
            // The external model alone: nothing built in to agree with it.
            await ClassificationEngine(
                rules: Repository.engine.rules, plugins: [ExternalSeverityTests.httpPlugin(base + "/classify")], configuration: Repository.configuration()
            ).classify(ComplaintInput(text: text))
        }
        #expect(result.category == .maintenance)
        #expect(result.flags.needsHumanReview == flagged, "\(result.explanation.summary ?? "")")
        #expect((result.explanation.summary?.contains("the external model gave no confidence for maintenance and no built-in plugin agrees") ?? false) == flagged)
    }

    @Test("a confidence-less external answer the built-in model agrees with is not flagged for it", arguments: [
        "空调不制冷，房间很热", "The air conditioning is not cooling and the room is hot",
    ])
    func confirmedGuess(text: String) async throws {
        let result = try await withLoopbackServer(ExternalSeverityTests.router(answering: #"{"category":"maintenance"}"#)) { base in
            await ExternalSeverityTests.shippedEngine(withModelAt: base + "/classify").classify(ComplaintInput(text: text))
        }
        #expect(result.category == .maintenance)
        #expect(result.explanation.summary?.contains("gave no confidence for") == false, "\(result.explanation.summary ?? "")")
    }
}
