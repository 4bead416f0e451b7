/// Tells Chinese from English by script: the classifier only needs to know which language the
/// guest wrote in (for notifications) and the event schema wants a BCP 47 tag.
public enum LanguageDetector {
    /// `zh-CN` when Han characters make up at least a fifth of the letters (a Chinese complaint
    /// quoting "Wi-Fi" or "VIP" stays Chinese; English with one Chinese name stays English),
    /// `en` when there are Latin letters, otherwise `hint` (the source's own tag) or `en`.
    public static func detect(_ text: NormalizedText, hint: String? = nil) -> String {
        let han = text.hanCount
        let latin = text.latinCount
        if han == 0 && latin == 0 { return hint ?? "en" }
        // A Han character carries about as much as a 3-letter word; weigh them so.
        return han * 3 * 5 >= (han * 3 + latin) ? "zh-CN" : "en"
    }
}
