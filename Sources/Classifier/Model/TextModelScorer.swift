import ComplaintEvents
import Foundation

/// A ``TextModel`` ready to score: weights in flat arrays, looked up by feature hash. Scoring a
/// complaint is one feature walk, a sort of a few hundred integers and a few multiply-adds per
/// feature; no strings are built.
public struct TextModelScorer: Sendable {
    public let version: String
    public let categories: [ComplaintCategory]
    public let severities: [Severity]
    private let index: FeatureIndex
    /// The n-gram of each feature position, to name the evidence behind a decision.
    private let grams: [String]
    private let categoryBias: [Double]
    private let severityBias: [Double]
    /// `feature * categories.count + class`.
    private let categoryWeights: [Double]
    private let severityWeights: [Double]

    /// Probabilities over categories and severities for one text.
    public struct Posterior: Sendable {
        public var categories: [Double]
        public var severities: [Double]
        /// How many of the text's features the model knows.
        public var knownFeatures: Int
    }

    public init(model: TextModel) {
        version = model.version
        categories = model.categories
        severities = model.severities
        index = FeatureIndex(hashes: model.features.map { FeatureHash.of($0.gram) })
        grams = model.features.map(\.gram)
        categoryBias = model.categoryBias
        severityBias = model.severityBias
        categoryWeights = model.features.flatMap(\.categoryWeights)
        severityWeights = model.features.flatMap(\.severityWeights)
    }

    /// Scores `text`: each distinct known feature counts once, the sum is scaled by `1/√n` as in
    /// training, and log-scores are divided by `temperature` before the softmax.
    public func posterior(_ text: NormalizedText, temperature: Double = 1) -> Posterior {
        let known = knownPositions(text)
        var categoryScores = [Double](repeating: 0, count: categories.count)
        var severityScores = [Double](repeating: 0, count: severities.count)
        let nc = categories.count
        let ns = severities.count
        var previous: Int32 = -1
        var distinct = 0
        categoryWeights.withUnsafeBufferPointer { categoryTable in
            severityWeights.withUnsafeBufferPointer { severityTable in
                for position in known where position != previous {
                    previous = position
                    distinct += 1
                    let c0 = Int(position) * nc
                    for c in 0..<nc { categoryScores[c] += categoryTable[c0 + c] }
                    let s0 = Int(position) * ns
                    for s in 0..<ns { severityScores[s] += severityTable[s0 + s] }
                }
            }
        }
        let x = distinct == 0 ? 0 : 1 / Double(distinct).squareRoot()
        for c in 0..<nc { categoryScores[c] = categoryScores[c] * x + categoryBias[c] }
        for s in 0..<ns { severityScores[s] = severityScores[s] * x + severityBias[s] }
        return Posterior(
            categories: Self.softmax(categoryScores, temperature: temperature),
            severities: Self.softmax(severityScores, temperature: temperature),
            knownFeatures: distinct)
    }

    /// The n-grams of `text` that push the model hardest toward `severity` (weight for it above the
    /// mean of the others), strongest first; whole words and Han n-grams before character pieces
    /// (spelled `_<leak`) and single characters. Works on feature positions and builds only the
    /// strings it returns: it runs for every complaint the model calls serious.
    public func cues(toward severity: Severity, in text: NormalizedText, limit: Int = 3) -> [String] {
        guard let target = severities.firstIndex(of: severity), limit > 0 else { return [] }
        let known = knownPositions(text)
        let ns = severities.count
        var pulling: [(position: Int32, pull: Double)] = []
        var previous: Int32 = -1
        for position in known where position != previous {
            previous = position
            let base = Int(position) * ns
            var others = 0.0
            for s in 0..<ns where s != target { others += severityWeights[base + s] }
            let pull = severityWeights[base + target] - others / Double(max(ns - 1, 1))
            if pull > 0 { pulling.append((position, pull)) }
        }
        pulling.sort { $0.pull != $1.pull ? $0.pull > $1.pull : $0.position < $1.position }
        var words: [String] = []
        var pieces: [Int32] = []
        for (position, _) in pulling where words.count < limit {
            let gram = grams[Int(position)]
            if gram.hasPrefix("_") || gram.unicodeScalars.count == 1 {
                if pieces.count < limit { pieces.append(position) }
            } else {
                words.append(gram)
            }
        }
        for position in pieces where words.count < limit {
            words.append(grams[Int(position)].trimmingCharacters(in: CharacterSet(charactersIn: "_<>")))
        }
        return words
    }

    /// The model positions of the text's known features, sorted (repeats kept: callers skip them),
    /// so sums run in one fixed order whatever the text's order.
    private func knownPositions(_ text: NormalizedText) -> [Int32] {
        var hashes: [UInt64] = []
        hashes.reserveCapacity(text.scalars.count * 8)
        FeatureExtractor.hashes(of: text, into: &hashes)
        var known: [Int32] = []
        known.reserveCapacity(hashes.count)
        for hash in hashes {
            if let position = index[hash] { known.append(position) }
        }
        known.sort()
        return known
    }

    static func softmax(_ scores: [Double], temperature: Double) -> [Double] {
        let maximum = scores.max() ?? 0
        var result = scores.map { exp(($0 - maximum) / temperature) }
        let sum = result.reduce(0, +)
        for i in result.indices { result[i] /= sum }
        return result
    }
}
