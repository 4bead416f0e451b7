/// Complaint text folded once into the form every matcher and model reads, so rules, features
/// and language detection agree on what a "character" is.
///
/// Folding (a fast subset of NFKC for the scripts Redress sees): full-width ASCII forms become
/// ASCII (`ＡＣ坏了！` → `ac坏了!`), the ideographic space and other spaces become a plain space,
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

    public init(_ text: String) {
        var scalars: [Unicode.Scalar] = []
        scalars.reserveCapacity(text.unicodeScalars.count)
        var han = 0
        var latin = 0
        for scalar in text.unicodeScalars {
            let folded = Self.fold(scalar)
            if folded.value >= 0x61 && folded.value <= 0x7A {
                latin += 1
            } else if Self.isHan(folded) {
                han += 1
            } else if folded.value >= 0xC0 && folded.value < 0x250 && folded.properties.isAlphabetic {
                latin += 1
            }
            scalars.append(folded)
        }
        self.scalars = scalars
        self.hanCount = han
        self.latinCount = latin
    }

    /// The folded text as a `String` (for display and tests).
    public var string: String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }

    /// True when nothing but spaces, punctuation or symbols is left.
    public var isBlank: Bool { hanCount == 0 && latinCount == 0 && !scalars.contains(where: Self.isWordScalar) }

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

    /// Letters and digits that make up Latin-script words (after folding).
    @inline(__always)
    static func isWordScalar(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 0x80 { return (value >= 0x61 && value <= 0x7A) || (value >= 0x30 && value <= 0x39) }
        return value >= 0xC0 && value < 0x250 && scalar.properties.isAlphabetic
    }
}
