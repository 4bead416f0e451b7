/// Complaint text folded once into the form every matcher and model reads, so rules, features
/// and language detection agree on what a "character" is.
///
/// Folding (a fast subset of NFKC for the scripts Redress sees): full-width ASCII forms become
/// ASCII (`ＡＣ坏了！` → `ac坏了!`), so do styled Latin letters and digits (mathematical bold, italic,
/// script … `𝐀𝐂` → `ac`) and circled letters (`ⓐⓒ` → `ac`), the ideographic space and other spaces become a plain space,
/// curly quotes become `'`, letters are lower-cased, and emoji (with their joiners, variation
/// selectors and skin-tone modifiers) become a space. It works on Unicode scalars, not on
/// `Character`s, so it costs one pass and no grapheme breaking.
public struct NormalizedText: Sendable, Hashable {
    /// The folded scalars.
    public let scalars: [Unicode.Scalar]
    /// Number of Han (CJK ideograph) scalars.
    public let hanCount: Int
    /// Number of Latin letters.
    public let latinCount: Int
    /// Number of Japanese kana syllables (hiragana U+3041–3096, katakana U+30A1–30FA): Japanese is not
    /// Chinese, whatever kanji it has. The length mark ー, iteration marks and half-width katakana
    /// (kaomoji such as `ヽ(`Д´)ﾉ` are made of them) are not counted, as punctuation is not.
    public let kanaCount: Int
    /// Number of letters in any other script (Cyrillic, Hangul, Arabic, Thai …), which the built-in
    /// model does not read but a person, or a hotel group's own model, can. Letter numbers (Ⅲ) and
    /// symbols are not letters.
    public let otherLetterCount: Int

    public init(_ text: String) {
        var scalars: [Unicode.Scalar] = []
        scalars.reserveCapacity(text.unicodeScalars.count)
        var han = 0
        var latin = 0
        var kana = 0
        var other = 0
        for scalar in text.unicodeScalars {
            let folded = Self.fold(scalar)
            if folded.value >= 0x61 && folded.value <= 0x7A {
                latin += 1
            } else if Self.isHan(folded) {
                han += 1
            } else if folded.value >= 0xC0 && folded.value < 0x250 && folded.properties.isAlphabetic {
                latin += 1
            } else if folded.value >= 0x250 && Self.isLetter(folded) {
                switch Script.of(folded) {
                case .latin: latin += 1  // IPA, Latin Extended Additional (Vietnamese ệ) …
                case .kana: if Self.isKanaSyllable(folded) { kana += 1 }
                default: other += 1
                }
            }
            scalars.append(folded)
        }
        self.scalars = scalars
        self.hanCount = han
        self.latinCount = latin
        self.kanaCount = kana
        self.otherLetterCount = other
    }

    /// The folded text as a `String` (for display and tests).
    public var string: String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }

    /// True when nothing but spaces, punctuation or symbols is left: a letter of any script is text.
    public var isBlank: Bool {
        hanCount == 0 && latinCount == 0 && kanaCount == 0 && otherLetterCount == 0 && !scalars.contains(where: Self.isWordScalar)
    }

    /// The script most of the text is written in when it is not Latin or Han (which the built-in
    /// plugins read): its letters outweigh the Latin letters and the Han characters (each Han
    /// character counted as a three-letter word, a kana syllable or a Hangul syllable block as two
    /// letters, Hangul jamo such as ㅠ ㅋ and kana marks as none). `nil` for Chinese and English text,
    /// mixed or not, and for text without letters.
    public var unreadScript: Script? {
        guard kanaCount > 0 || otherLetterCount > 0 else { return nil }
        var counts = [Int](repeating: 0, count: Script.allCases.count)
        for scalar in scalars where scalar.value >= 0x250 && !Self.isHan(scalar) && Self.isLetter(scalar) {
            let script = Script.of(scalar)
            if script == .latin { continue }
            counts[script.index] += script.weight(of: scalar)
        }
        guard let best = Script.allCases.max(by: { counts[$0.index] < counts[$1.index] }),
              counts[best.index] > latinCount + 3 * hanCount
        else { return nil }
        return best
    }

    static let space: Unicode.Scalar = " "

    @inline(__always)
    static func fold(_ scalar: Unicode.Scalar) -> Unicode.Scalar {
        let value = scalar.value
        if value < 0x80 {
            if value >= 0x41 && value <= 0x5A { return Unicode.Scalar(value + 0x20)! }
            if value == 0x09 || value == 0x0A || value == 0x0D { return space }
            return scalar
        }
        switch value {
        case 0xFF21...0xFF3A: return Unicode.Scalar(value - 0xFEE0 + 0x20)!  // Ａ-Ｚ → a-z
        case 0xFF01...0xFF5E: return Unicode.Scalar(value - 0xFEE0)!  // other full-width ASCII
        case 0x3000, 0x00A0, 0x2000...0x200B, 0x202F, 0x205F: return space
        case 0x2018, 0x2019, 0x2032: return "'"
        case 0x201C, 0x201D: return "\""
        case 0x200C, 0x200D, 0xFE00...0xFE0F, 0x20E3: return space  // joiners, variation selectors, keycap
        case 0x1F000...0x1FAFF, 0x2600...0x27BF, 0x2B00...0x2BFF, 0xE0020...0xE007F: return space  // emoji, tags
        case 0x1D400...0x1D6A3: return Unicode.Scalar(0x61 + (value - 0x1D400) % 26)!  // 𝐀 𝐚 𝑨 𝒂 … (styled A-Z, a-z) → a-z
        case 0x1D7CE...0x1D7FF: return Unicode.Scalar(0x30 + (value - 0x1D7CE) % 10)!  // 𝟎 𝟙 … → 0-9
        case 0x24B6...0x24E9: return Unicode.Scalar(0x61 + (value - 0x24B6) % 26)!  // Ⓐ ⓐ → a
        case 0xC0...0x24F:
            if scalar.properties.isUppercase, let lower = scalar.properties.lowercaseMapping.unicodeScalars.first { return lower }
            return scalar
        default:
            return scalar
        }
    }

    /// CJK unified ideographs (with extension A, compatibility ideographs and the supplementary planes).
    @inline(__always)
    static func isHan(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0xF900...0xFAFF, 0x20000...0x3134F: true
        default: false
        }
    }

    /// A letter (or a vowel sign, which is a mark) outside basic Latin: alphabetic, but not a letter
    /// number (Ⅲ) or a symbol.
    @inline(__always)
    static func isLetter(_ scalar: Unicode.Scalar) -> Bool {
        guard scalar.properties.isAlphabetic else { return false }
        switch scalar.properties.generalCategory {
        case .letterNumber, .otherSymbol: return false
        default: return true
        }
    }

    /// Hiragana and katakana syllables (small ones too), not the length or iteration marks.
    @inline(__always)
    static func isKanaSyllable(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x3041...0x3096, 0x30A1...0x30FA: true
        default: false
        }
    }

    /// Letters and digits that make up Latin-script words (after folding).
    @inline(__always)
    static func isWordScalar(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 0x80 { return (value >= 0x61 && value <= 0x7A) || (value >= 0x30 && value <= 0x39) }
        return value >= 0xC0 && value < 0x250 && scalar.properties.isAlphabetic
    }
}

extension NormalizedText {
    /// A writing system of a letter outside basic Latin and Han: the ones the built-in plugins do not read are named in explanations and mapped to a
    /// language tag when the script is used for one language only.
    public enum Script: String, CaseIterable, Sendable {
        case latin = "Latin", kana = "Japanese kana", hangul = "Hangul", cyrillic = "Cyrillic", greek = "Greek", armenian = "Armenian",
             hebrew = "Hebrew", arabic = "Arabic", devanagari = "Devanagari", thai = "Thai", georgian = "Georgian",
             other = "a non-Latin script"

        var index: Int { Self.allCases.firstIndex(of: self)! }

        /// Letters a scalar of this script is worth: a kana syllable or a Hangul syllable block about two;
        /// kana marks (ー ヽ, half-width ﾉ) and Hangul jamo (ㅠ ㅋ, emoticons more than words) nothing.
        func weight(of scalar: Unicode.Scalar) -> Int {
            switch self {
            case .kana: NormalizedText.isKanaSyllable(scalar) ? 2 : 0
            case .hangul: (0xAC00...0xD7A3).contains(scalar.value) ? 2 : 0
            default: 1
            }
        }

        /// The BCP 47 ISO 15924 subtag (`und-Cyrl`: some language written in Cyrillic); `nil` for the
        /// scripts not named here.
        public var code: String? {
            switch self {
            case .latin: "Latn"
            case .kana: "Jpan"
            case .hangul: "Hang"
            case .cyrillic: "Cyrl"
            case .greek: "Grek"
            case .armenian: "Armn"
            case .hebrew: "Hebr"
            case .arabic: "Arab"
            case .devanagari: "Deva"
            case .thai: "Thai"
            case .georgian: "Geor"
            case .other: nil
            }
        }

        /// The language a script is (all but) only written in; `nil` when several share it (Cyrillic:
        /// Russian, Ukrainian, Kazakh …; Arabic: Arabic, Persian, Urdu; Devanagari: Hindi, Marathi, Nepali).
        public var language: String? {
            switch self {
            case .kana: "ja"
            case .hangul: "ko"
            case .greek: "el"
            case .armenian: "hy"
            case .hebrew: "he"
            case .thai: "th"
            case .georgian: "ka"
            case .latin, .cyrillic, .arabic, .devanagari, .other: nil
            }
        }

        /// The script of a letter that is neither basic Latin nor Han.
        static func of(_ scalar: Unicode.Scalar) -> Script {
            switch scalar.value {
            case 0x0250...0x02AF, 0x1D00...0x1DBF, 0x1D400...0x1D7FF, 0x1E00...0x1EFF, 0x2C60...0x2C7F, 0xA720...0xA7FF, 0xAB30...0xAB6F: .latin
            case 0x3040...0x30FF, 0x31F0...0x31FF, 0xFF66...0xFF9F, 0x1B000...0x1B16F: .kana
            case 0x1100...0x11FF, 0x3130...0x318F, 0xA960...0xA97F, 0xAC00...0xD7FF, 0xFFA0...0xFFDC: .hangul
            case 0x0400...0x052F, 0x1C80...0x1C8F, 0x2DE0...0x2DFF, 0xA640...0xA69F: .cyrillic
            case 0x0370...0x03FF, 0x1F00...0x1FFF: .greek
            case 0x0530...0x058F: .armenian
            case 0x0590...0x05FF, 0xFB1D...0xFB4F: .hebrew
            case 0x0600...0x06FF, 0x0750...0x077F, 0x08A0...0x08FF, 0xFB50...0xFDFF, 0xFE70...0xFEFF: .arabic
            case 0x0900...0x097F, 0xA8E0...0xA8FF: .devanagari
            case 0x0E00...0x0E7F: .thai
            case 0x10A0...0x10FF, 0x2D00...0x2D2F: .georgian
            default: .other
            }
        }
    }
}
