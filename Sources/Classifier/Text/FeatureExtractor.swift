/// Turns folded text into the n-gram features of the statistical model:
///
/// - Han character 1-, 2- and 3-grams within a run of Han characters (Chinese has no spaces; two
///   or three characters make most words and phrases: 空调, 不制冷, 前台);
/// - Latin word 1- and 2-grams (`not`, `cooling`, `not cooling`), apostrophes dropped inside
///   words (`didn't` → `didnt`); spaces keep the word chain, punctuation breaks it;
/// - Latin character 3- to 5-grams of each word with boundary marks (`<leak`, `aking>`), spelled
///   with a leading `_` so they never collide with words; they carry typos and morphology
///   (`leaking`, `leaky`, `leakage` share `<leak`).
///
/// One walk spells each feature into a reused scalar buffer; ``hashes(of:into:)`` hashes them for
/// scoring and ``strings(of:)`` makes strings for training, so both see exactly the same features.
public enum FeatureExtractor {
    static let smallestCharacterGram = 3
    static let largestCharacterGram = 5

    @inline(__always)
    static func forEachFeature(in scalars: [Unicode.Scalar], _ body: ([Unicode.Scalar]) -> Void) {
        let count = scalars.count
        var index = 0
        var previousWord: [Unicode.Scalar] = []
        var buffer: [Unicode.Scalar] = []
        buffer.reserveCapacity(64)
        var word: [Unicode.Scalar] = []
        word.reserveCapacity(32)
        var marked: [Unicode.Scalar] = []
        marked.reserveCapacity(34)
        var hanRun = 0  // Han characters immediately before `index`
        while index < count {
            let scalar = scalars[index]
            if NormalizedText.isHan(scalar) {
                previousWord.removeAll(keepingCapacity: true)
                hanRun += 1
                for length in 1...min(3, hanRun) {
                    buffer.removeAll(keepingCapacity: true)
                    buffer.append(contentsOf: scalars[(index + 1 - length)...index])
                    body(buffer)
                }
                index += 1
            } else if NormalizedText.isWordScalar(scalar) {
                hanRun = 0
                word.removeAll(keepingCapacity: true)
                var end = index
                while end < count {
                    let next = scalars[end]
                    if NormalizedText.isWordScalar(next) {
                        word.append(next)
                        end += 1
                    } else if next == "'" && end + 1 < count && NormalizedText.isWordScalar(scalars[end + 1]) {
                        end += 1
                    } else {
                        break
                    }
                }
                index = end
                body(word)
                if !previousWord.isEmpty {
                    buffer.removeAll(keepingCapacity: true)
                    buffer.append(contentsOf: previousWord)
                    buffer.append(NormalizedText.space)
                    buffer.append(contentsOf: word)
                    body(buffer)
                }
                marked.removeAll(keepingCapacity: true)
                marked.append("<")
                marked.append(contentsOf: word)
                marked.append(">")
                if marked.count >= smallestCharacterGram {
                    for length in smallestCharacterGram...min(largestCharacterGram, marked.count) {
                        for start in 0...(marked.count - length) {
                            buffer.removeAll(keepingCapacity: true)
                            buffer.append("_")
                            buffer.append(contentsOf: marked[start..<start + length])
                            body(buffer)
                        }
                    }
                }
                swap(&previousWord, &word)
            } else {
                hanRun = 0
                // Spaces keep the word chain (bigrams across a space); punctuation breaks it.
                if scalar != NormalizedText.space { previousWord.removeAll(keepingCapacity: true) }
                index += 1
            }
        }
    }

    /// Feature hashes (see ``FeatureHash``), in text order, with repeats.
    static func hashes(of text: NormalizedText, into result: inout [UInt64]) {
        forEachFeature(in: text.scalars) { feature in
            var hash = FeatureHash()
            for scalar in feature { hash.add(scalar) }
            result.append(hash.value)
        }
    }

    /// The distinct features of `text`, spelled out (for training and for inspection).
    public static func strings(of text: NormalizedText) -> Set<String> {
        var result = Set<String>()
        forEachFeature(in: text.scalars) { feature in
            var view = String.UnicodeScalarView()
            view.append(contentsOf: feature)
            result.insert(String(view))
        }
        return result
    }
}

extension FeatureExtractor {
    /// Names the feature scheme in the model file; change it whenever the features change.
    public static let description = "han-1-3+latin-word-1-2+latin-char-3-5/2"
}
