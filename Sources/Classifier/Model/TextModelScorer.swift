import ComplaintEvents
import Foundation

/// A ``TextModel`` ready to score: weights in flat arrays, looked up by feature hash. Scoring a
/// complaint is one feature walk, a sort of a few hundred integers and a few multiply-adds per
/// feature; no strings are built.
public struct TextModelScorer: Sendable {
    public let version: String
    public let categories: [ComplaintCategory]
    public let severities: [Severity]
    private let index: [UInt64: Int32]
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
        var index: [UInt64: Int32] = [:]
        index.reserveCapacity(model.features.count)
        for (position, feature) in model.features.enumerated() {
            index[FeatureHash.of(feature.gram)] = Int32(position)
        }
        self.index = index
        grams = model.features.map(\.gram)
        categoryBias = model.categoryBias
        severityBias = model.severityBias
        categoryWeights = model.features.flatMap(\.categoryWeights)
        severityWeights = model.features.flatMap(\.severityWeights)
    }

    /// Scores `text`: each distinct known feature counts once, the sum is scaled by `1/√n` as in
    /// training, and log-scores are divided by `temperature` before the softmax.
    public func posterior(_ text: NormalizedText, temperature: Double = 1) -> Posterior {
        var hashes: [UInt64] = []
        hashes.reserveCapacity(text.scalars.count * 8)
        FeatureExtractor.hashes(of: text, into: &hashes)
        var known: [Int32] = []
        known.reserveCapacity(hashes.count)
        for hash in hashes {
            if let position = index[hash] { known.append(position) }
        }
        known.sort()
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
    /// mean of the others), strongest first; whole words and Han n-grams before character pieces.
    /// Used only to explain a decision, so it may build strings.
    public func cues(toward severity: Severity, in text: NormalizedText, limit: Int = 3) -> [String] {
        guard let target = severities.firstIndex(of: severity) else { return [] }
        var hashes: [UInt64] = []
        FeatureExtractor.hashes(of: text, into: &hashes)
        let ns = severities.count
        var scored: [(gram: String, pull: Double)] = []
        for position in Set(hashes.compactMap { index[$0] }) {
            let base = Int(position) * ns
            let others = (0..<ns).filter { $0 != target }.reduce(0) { $0 + severityWeights[base + $1] } / Double(max(ns - 1, 1))
            let pull = severityWeights[base + target] - others
            if pull > 0 { scored.append((grams[Int(position)], pull)) }
        }
        // Character pieces (spelled `_<leak`) and single characters read worse than words and Han n-grams.
        scored.sort { ($0.pull, $1.gram) > ($1.pull, $0.gram) }
        let isPiece = { (gram: String) in gram.hasPrefix("_") || gram.unicodeScalars.count == 1 }
        let words = scored.filter { !isPiece($0.gram) }.map(\.gram)
        let pieces = scored.filter { isPiece($0.gram) }.map { $0.gram.trimmingCharacters(in: CharacterSet(charactersIn: "_<>")) }
        return Array((words + pieces).prefix(limit))
    }

    static func softmax(_ scores: [Double], temperature: Double) -> [Double] {
        let maximum = scores.max() ?? 0
        var result = scores.map { exp(($0 - maximum) / temperature) }
        let sum = result.reduce(0, +)
        for i in result.indices { result[i] /= sum }
        return result
    }
}
