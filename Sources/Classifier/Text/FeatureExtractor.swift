/// Turns folded text into the n-gram features of the statistical model: Han character 1- and
/// 2-grams (Chinese has no spaces, and two characters make most words: 空调, 前台), Latin word
/// 1- and 2-grams (`not`, `cooling`, `not cooling`), with a light English plural fold
/// (`towels` → `towel`) and apostrophes dropped inside words (`didn't` → `didnt`).
///
/// One walk emits each feature as scalar ranges; ``hashes(of:)`` hashes them for scoring and
/// ``strings(of:)`` spells them for training, so both see exactly the same features.
public enum FeatureExtractor {
    /// One feature: `first`, optionally followed by `second` (joined by a space when `spaced`).
    struct Gram {
        var first: Range<Int>
        var second: Range<Int>?
        var spaced: Bool
    }

    @inline(__always)
    static func forEachGram(in scalars: [Unicode.Scalar], _ body: (Gram) -> Void) {
        let count = scalars.count
        var index = 0
        var previousWord: Range<Int>? = nil
        var previousHan: Int? = nil
        while index < count {
            let scalar = scalars[index]
            if NormalizedText.isHan(scalar) {
                previousWord = nil
                body(Gram(first: index..<index + 1, second: nil, spaced: false))
                if let previous = previousHan {
                    body(Gram(first: previous..<previous + 1, second: index..<index + 1, spaced: false))
                }
                previousHan = index
                index += 1
            } else if NormalizedText.isWordScalar(scalar) {
                previousHan = nil
                let start = index
                var end = index + 1
                while end < count {
                    let next = scalars[end]
                    if NormalizedText.isWordScalar(next) {
                        end += 1
                    } else if next == "'" && end + 1 < count && NormalizedText.isWordScalar(scalars[end + 1]) {
                        end += 1
                    } else {
                        break
                    }
                }
                index = end
                // Plural fold: "towels" → "towel", but keep "glass", "bus", "is".
                if end - start > 3 && scalars[end - 1] == "s" && scalars[end - 2] != "s" && scalars[end - 2] != "'" {
                    end -= 1
                }
                let word = start..<end
                body(Gram(first: word, second: nil, spaced: false))
                if let previous = previousWord {
                    body(Gram(first: previous, second: word, spaced: true))
                }
                previousWord = word
            } else {
                previousHan = nil
                // Spaces keep the word chain (bigrams across a space); punctuation breaks it.
                if scalar != NormalizedText.space { previousWord = nil }
                index += 1
            }
        }
    }

    /// Feature hashes (see ``FeatureHash``), in text order, with repeats.
    static func hashes(of text: NormalizedText, into result: inout [UInt64]) {
        let scalars = text.scalars
        forEachGram(in: scalars) { gram in
            var hash = FeatureHash()
            add(gram.first, of: scalars, to: &hash)
            if let second = gram.second {
                if gram.spaced { hash.add(byte: 0x20) }
                add(second, of: scalars, to: &hash)
            }
            result.append(hash.value)
        }
    }

    /// The distinct features of `text`, spelled out (for training and for inspection).
    public static func strings(of text: NormalizedText) -> Set<String> {
        var result = Set<String>()
        let scalars = text.scalars
        forEachGram(in: scalars) { gram in
            var view = String.UnicodeScalarView()
            append(gram.first, of: scalars, to: &view)
            if let second = gram.second {
                if gram.spaced { view.append(NormalizedText.space) }
                append(second, of: scalars, to: &view)
            }
            result.insert(String(view))
        }
        return result
    }

    @inline(__always)
    private static func add(_ range: Range<Int>, of scalars: [Unicode.Scalar], to hash: inout FeatureHash) {
        for index in range where scalars[index] != "'" { hash.add(scalars[index]) }
    }

    private static func append(_ range: Range<Int>, of scalars: [Unicode.Scalar], to view: inout String.UnicodeScalarView) {
        for index in range where scalars[index] != "'" { view.append(scalars[index]) }
    }
}

extension FeatureExtractor {
    /// Names the feature scheme in the model file; change it whenever the features change.
    public static let description = "han-1-2+latin-word-1-2+plural-fold/1"
}
