@testable import Classifier
import Testing

@Suite("Text normalisation, language and features")
struct TextTests {
    @Test("folding", arguments: [
        ("ＡＣ坏了！", "ac坏了!"),
        ("Wi-Fi   DOWN", "wi-fi   down"),
        ("空调🥵不制冷😡😡", "空调 不制冷  "),
        ("Thumbs 👍🏽 up", "thumbs    up"),
        ("don’t", "don't"),
        ("房间\u{3000}很吵", "房间 很吵"),
    ])
    func folding(input: String, expected: String) {
        #expect(NormalizedText(input).string == expected)
    }

    @Test("language by script", arguments: [
        ("空调不制冷，房间很热", "zh-CN"),
        ("The air conditioning is broken", "en"),
        ("Wi-Fi一直连不上，房间号1203", "zh-CN"),
        ("The staff at the front desk were so rude，我问个停车的问题直接不理我", "zh-CN"),
        ("Please ask Mr 王 to call me back about the refund", "en"),
        ("!!!", "en"),
        ("пожар в номере", "und-Cyrl"),
        ("Wi-Fi не работает в номере", "und-Cyrl"),
        ("방에 불이 났어요", "ko"),
        ("يوجد حريق في الغرفة", "und-Arab"),
        ("ห้องมีไฟไหม้", "th"),
        ("へやがさむいです", "ja"),
        ("部屋のエアコンが壊れています", "ja"),
        ("部屋が寒い", "ja"),
        ("这家酒店的の字招牌很难看，空调也坏了", "zh-CN"),
    ])
    func language(text: String, expected: String) {
        #expect(LanguageDetector.detect(NormalizedText(text)) == expected)
    }

    @Test("a source's language tag", arguments: [
        ("zh-Hans-CN", "zh-CN" as String?), ("EN-us", "en"), ("ru", "ru"), ("ko-KR", "ko-KR"), ("not a tag", nil), ("r", nil),
    ])
    func hint(tag: String, expected: String?) {
        #expect(LanguageDetector.hint(tag) == expected)
    }

    @Test("blank text has no letters or digits of any script", arguments: [
        ("  \t\n\u{3000} ", true), ("😡😡！！", true), ("...?!", true),
        ("脏", false), ("512", false), ("пожар", false), ("불", false), ("حريق", false), ("ไฟไหม้", false), ("へや", false), ("Điều", false),
    ])
    func blank(text: String, blank: Bool) {
        #expect(NormalizedText(text).isBlank == blank)
    }

    @Test("features: Han 1-3-grams, word 1-2-grams, marked character 3-5-grams, apostrophes")
    func features() {
        #expect(FeatureExtractor.strings(of: NormalizedText("空调坏")) == ["空", "调", "坏", "空调", "调坏", "空调坏"])
        #expect(FeatureExtractor.strings(of: NormalizedText("No tv. Didn't")) == [
            "no", "_<no", "_no>", "_<no>",
            "tv", "_<tv", "_tv>", "_<tv>", "no tv",
            "didnt", "_<di", "_did", "_idn", "_dnt", "_nt>", "_<did", "_didn", "_idnt", "_dnt>", "_<didn", "_didnt", "_idnt>",
        ])
        #expect(FeatureExtractor.strings(of: NormalizedText("no towel")).contains("no towel"))
    }

    @Test("hashes of spelled features equal hashes computed from scalars")
    func hashes() {
        let text = NormalizedText("Wi-Fi 掉线了, can't connect to the internet!")
        var hashes: [UInt64] = []
        FeatureExtractor.hashes(of: text, into: &hashes)
        #expect(Set(hashes) == Set(FeatureExtractor.strings(of: text).map(FeatureHash.of)))
    }
}
