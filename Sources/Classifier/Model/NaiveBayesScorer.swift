import ComplaintEvents
import Foundation

/// A ``NaiveBayesModel`` ready to score: smoothed log-probabilities in flat arrays, looked up by
/// feature hash. Scoring a complaint is one feature walk, a sort of a few hundred integers and
/// a few multiply-adds per feature; no strings are built.
public struct NaiveBayesScorer: Sendable {
    public let version: String
    public let categories: [ComplaintCategory]
    public let severities: [Severity]
    private let index: [UInt64: Int32]
    private let categoryLogPriors: [Double]
    private let severityLogPriors: [Double]
    /// `feature * categories.count + class`.
    private let categoryLogLikelihoods: [Double]
    private let severityLogLikelihoods: [Double]

    /// Probabilities over categories and severities for one text.
    public struct Posterior: Sendable {
        public var categories: [Double]
        public var severities: [Double]
        /// How many of the text's features the model knows.
        public var knownFeatures: Int
    }

    public init(model: NaiveBayesModel) {
        version = model.version
        categories = model.categories
        severities = model.severities
        var index: [UInt64: Int32] = [:]
        index.reserveCapacity(model.features.count)
        for (position, feature) in model.features.enumerated() {
            index[FeatureHash.of(feature.gram)] = Int32(position)
        }
        self.index = index
        let alpha = model.parameters.alpha
        let vocabulary = Double(max(1, model.features.count))
        func likelihoods(_ counts: (NaiveBayesModel.Feature) -> [Int], classes: Int) -> [Double] {
            var totals = [Double](repeating: 0, count: classes)
            for feature in model.features {
                for (c, n) in counts(feature).enumerated() { totals[c] += Double(n) }
            }
            var table = [Double](repeating: 0, count: model.features.count * classes)
            for (position, feature) in model.features.enumerated() {
                for (c, n) in counts(feature).enumerated() {
                    table[position * classes + c] = log((Double(n) + alpha) / (totals[c] + alpha * vocabulary))
                }
            }
            return table
        }
        func priors(_ documents: [Int]) -> [Double] {
            let total = Double(max(1, documents.reduce(0, +)))
            return documents.map { log((Double($0) + 1) / (total + Double(documents.count))) }
        }
        categoryLogLikelihoods = likelihoods({ $0.categoryCounts }, classes: model.categories.count)
        severityLogLikelihoods = likelihoods({ $0.severityCounts }, classes: model.severities.count)
        categoryLogPriors = priors(model.categoryDocuments)
        severityLogPriors = priors(model.severityDocuments)
    }

    /// Scores `text`. Each distinct known feature counts once (the model was trained on document
    /// counts). Log-scores are divided by `temperature` before the softmax: naive Bayes treats
    /// overlapping n-grams as independent and is far too sure of itself otherwise.
    public func posterior(_ text: NormalizedText, temperature: Double = 1) -> Posterior {
        var hashes: [UInt64] = []
        hashes.reserveCapacity(text.scalars.count * 2)
        FeatureExtractor.hashes(of: text, into: &hashes)
        var known: [Int32] = []
        known.reserveCapacity(hashes.count)
        for hash in hashes {
            if let position = index[hash] { known.append(position) }
        }
        known.sort()
        var categoryScores = categoryLogPriors
        var severityScores = severityLogPriors
        let nc = categories.count
        let ns = severities.count
        var previous: Int32 = -1
        var distinct = 0
        categoryLogLikelihoods.withUnsafeBufferPointer { categoryTable in
            severityLogLikelihoods.withUnsafeBufferPointer { severityTable in
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
        return Posterior(
            categories: Self.softmax(categoryScores, temperature: temperature),
            severities: Self.softmax(severityScores, temperature: temperature),
            knownFeatures: distinct)
    }

    static func softmax(_ scores: [Double], temperature: Double) -> [Double] {
        let maximum = scores.max() ?? 0
        var result = scores.map { exp(($0 - maximum) / temperature) }
        let sum = result.reduce(0, +)
        for i in result.indices { result[i] /= sum }
        return result
    }
}
