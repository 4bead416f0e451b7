/// Tells the guest's language by script: the classifier only needs to know which language the
/// guest wrote in (for notifications and the staff who speak it) and the event schema wants a BCP 47 tag.
public enum LanguageDetector {
    /// `zh-CN` when Han characters make up at least a fifth of the letters (a Chinese complaint
    /// quoting "Wi-Fi" or "VIP" stays Chinese; English with one Chinese name stays English), `ja`
    /// instead when there are at least 3 kana syllables and they make up at least a quarter of the kana
    /// and kanji (Chinese with a kaomoji `(ノ°▽°)ノ` or a borrowed `の` stays Chinese), `en` when there
    /// are Latin letters. Text mostly in another script (``NormalizedText/unreadScript``) keeps `hint`
    /// (the source's own tag) unless that says Chinese or English, else gets the script's language (`ko`,
    /// `ja`, `th` …) or, for a script several languages share, `und-<script>` (`und-Cyrl`), `und` for a
    /// script not named. Text with no letters gets `hint` or `en`.
    public static func detect(_ text: NormalizedText, hint: String? = nil) -> String {
        if let script = text.unreadScript {
            if let hint, !isChineseOrEnglish(hint) { return hint }
            return script.language ?? script.code.map { "und-\($0)" } ?? "und"
        }
        let han = text.hanCount
        let kana = text.kanaCount
        let latin = text.latinCount
        if han == 0 && latin == 0 && kana == 0 { return hint ?? "en" }
        // A Han character carries about as much as a 3-letter word; weigh them (and kana) so.
        let cjk = (han + kana) * 3
        guard cjk * 5 >= cjk + latin else { return "en" }
        return kana >= 3 && kana * 4 >= kana + han ? "ja" : "zh-CN"
    }

    /// A source's language tag as the classifier reports it: any Chinese tag is `zh-CN` and any English
    /// one `en` (the built-in model's two languages), another well-formed tag (the event schema's
    /// pattern) is kept as it is, a malformed one dropped.
    public static func hint(_ tag: String) -> String? {
        let lower = tag.lowercased()
        if lower.hasPrefix("zh") { return "zh-CN" }
        if lower.hasPrefix("en") { return "en" }
        let parts = tag.split(separator: "-", omittingEmptySubsequences: false)
        guard tag.utf8.count <= 35, let first = parts.first, (2...3).contains(first.count), first.allSatisfy(\.isASCIILetterForTag),
              parts.count <= 4, parts.dropFirst().allSatisfy({ (2...8).contains($0.count) && $0.allSatisfy(\.isASCIIAlphanumericForTag) })
        else { return nil }
        return tag
    }

    static func isChineseOrEnglish(_ tag: String) -> Bool {
        let lower = tag.lowercased()
        return lower.hasPrefix("zh") || lower.hasPrefix("en")
    }
}

extension Character {
    fileprivate var isASCIILetterForTag: Bool { isASCII && isLetter }
    fileprivate var isASCIIAlphanumericForTag: Bool { isASCII && (isLetter || isNumber) }
}
