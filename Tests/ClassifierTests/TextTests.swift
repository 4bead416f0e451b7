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
        ("𝐓𝐡𝐞 𝐀𝐂 𝐢𝐬 𝐛𝐫𝐨𝐤𝐞𝐧", "the ac is broken"),
        ("𝑹𝒐𝒐𝒎 𝟒𝟏𝟐 𝔡𝔦𝔯𝔱𝔶", "room 412 dirty"),
        ("ⓐⓒ ⒷⓇⓄⓀⒺⓃ", "ac broken"),
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
        ("部屋がとても寒い", "ja"),
        ("这家酒店的の字招牌很难看，空调也坏了", "zh-CN"),
    ])
    func language(text: String, expected: String) {
        #expect(LanguageDetector.detect(NormalizedText(text)) == expected)
    }

    /// One kana per four Han characters made Chinese with a kaomoji or a borrowed の Japanese: `ja` needs
    /// at least 3 kana syllables (not ー ヽ or half-width ﾉ) making up a quarter of the kana and kanji.
    @Test("Chinese with a kaomoji or a borrowed の is Chinese; Japanese with kanji is Japanese", arguments: [
        ("空调坏了orz (ノ°▽°)ノ", "zh-CN"),
        ("AC 坏了 ヽ(`Д´)ﾉ", "zh-CN"),
        ("我の房间", "zh-CN"),
        ("差评の酒店", "zh-CN"),
        ("空调坏了ヽ(ー_ー)ノ，房间很热", "zh-CN"),
        ("朝食会場の係員の対応が最悪でした。", "ja"),
        ("浴室の排水口が詰まっていて、水が流れません。", "ja"),
        ("予約した部屋と違う部屋に案内された。", "ja"),
        ("隣の部屋の騒音で眠れませんでした", "ja"),
    ])
    func kanaShare(text: String, expected: String) {
        #expect(LanguageDetector.detect(NormalizedText(text)) == expected, "\(text)")
    }

    /// Hangul jamo (ㅠ ㅋ) and kaomoji kana weighed two letters each and made a few of them an unread
    /// script; styled Latin, circled letters and letter numbers counted as another script.
    @Test("jamo, kaomoji, styled Latin and Roman numerals are not an unread script", arguments: [
        "ok ㅠㅠ", "bad ヽ(`Д´)ﾉ", "lol ㅋㅋㅋ the AC is broken", "ㅠㅠ",
        "𝐓𝐡𝐞 𝐀𝐂 𝐢𝐬 𝐛𝐫𝐨𝐤𝐞𝐧", "ⓐⓒ ⓑⓡⓞⓚⓔⓝ", "Room Ⅲ", "Ⅲ", "空调坏了 Ⅲ号楼",
    ])
    func notUnread(text: String) {
        let normalized = NormalizedText(text)
        #expect(normalized.unreadScript == nil, "\(text): \(String(describing: normalized.unreadScript))")
        #expect(!LanguageDetector.detect(normalized).hasPrefix("und"), "\(text)")
    }

    @Test("Hangul syllables and kana syllables still make an unread script", arguments: [
        ("방에 불이 났어요 ㅠㅠ", "ko"), ("へやがさむいです", "ja"), ("ಕೋಣೆಯಲ್ಲಿ ಬೆಂಕಿ", "und"), ("ಥ_ಥ", "und"),
    ])
    func unreadSyllables(text: String, language: String) {
        let normalized = NormalizedText(text)
        #expect(normalized.unreadScript != nil, "\(text)")
        #expect(LanguageDetector.detect(normalized) == language, "\(text)")
    }

    @Test("a source's language tag", arguments: [
        ("zh-Hans-CN", "zh-CN" as String?), ("EN-us", "en"), ("ru", "ru"), ("ko-KR", "ko-KR"), ("not a tag", nil), ("r", nil),
    ])
    func hint(tag: String, expected: String?) {
        #expect(LanguageDetector.hint(tag) == expected)
    }

    @Test("blank text has no letters of any script and no ASCII digits", arguments: [
        ("  \t\n\u{3000} ", true), ("😡😡！！", true), ("...?!", true), ("Ⅲ", true), ("ー", true), ("٣", true),
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
