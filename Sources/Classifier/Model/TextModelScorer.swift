import ComplaintEvents
import Foundation

/// A ``TextModel`` ready to score: weights in flat arrays, looked up by feature hash. Scoring a
/// complaint is one feature walk, a sort of a few hundred integers and a few multiply-adds per
/// feature (one per class, and one per hidden unit when the severity head has a hidden layer),
/// plus, with a memory of training lines, a walk of the lines that share its rarer features;
/// no strings are built.
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
    /// `feature * severities.count + severity` (a logistic severity head; empty with a hidden layer).
    private let severityWeights: [Double]
    /// Hidden units of the severity head (0: logistic).
    private let units: Int
    /// `feature * units + unit`, single precision: a feature's 16 weights fill one cache line,
    /// and the table (about 63,000 n-grams × 16) is read at random, once per n-gram of a complaint.
    /// The file spells them to 4 decimals; a `Float` keeps them to about 1e-6 (the bench checksum and
    /// every held-out figure are the same as with `Double`).
    private let hiddenWeights: [Float]
    private let hiddenBias: [Double]
    /// `unit * severities.count + severity`.
    private let hiddenOutput: [Double]
    /// The remembered training lines' vote on severity, and its share (nil, 0: no memory).
    private let neighbours: NeighbourIndex?
    private let neighbourShare: Double

    /// Probabilities over categories and severities for one text.
    public struct Posterior: Sendable {
        public var categories: [Double]
        public var severities: [Double]
        /// How many of the text's features the model knows.
        public var knownFeatures: Int
        /// How many of the nearest training lines were serious (nil without a memory, or when no
        /// line shares a remembered n-gram with the text).
        public var nearest: NearestLines?
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
        units = model.hidden?.bias.count ?? 0
        hiddenWeights = model.features.flatMap { $0.hiddenWeights.map { Float($0) } }
        hiddenBias = model.hidden?.bias ?? []
        hiddenOutput = model.hidden?.output ?? []
        neighbours = model.memory.map {
            NeighbourIndex(
                memory: $0, features: model.features.count, severities: model.severities.count,
                seriousLabel: model.severities.firstIndex(of: .serious), count: model.parameters.neighbours,
                sharpness: model.parameters.neighbourSharpness)
        }
        neighbourShare = model.parameters.neighbourShare
    }

    /// Scores `text`: each distinct known feature counts once, the sum is scaled by `1/√n` as in
    /// training, and log-scores are divided by `temperature` before the softmax.
    public func posterior(_ text: NormalizedText, temperature: Double = 1) -> Posterior {
        let known = knownPositions(text)
        let (hidden, distinct) = hiddenSums(known)
        var categoryScores = [Double](repeating: 0, count: categories.count)
        var severityScores = [Double](repeating: 0, count: severities.count)
        let nc = categories.count
        let ns = severities.count
        let nh = units
        var previous: Int32 = -1
        categoryScores.withUnsafeMutableBufferPointer { categorySums in
            categoryWeights.withUnsafeBufferPointer { categoryTable in
                severityWeights.withUnsafeBufferPointer { severityTable in
                    for position in known where position != previous {
                        previous = position
                        let c0 = Int(position) * nc
                        for c in 0..<nc { categorySums[c] += categoryTable[c0 + c] }
                        if nh == 0 {
                            let s0 = Int(position) * ns
                            for s in 0..<ns { severityScores[s] += severityTable[s0 + s] }
                        }
                    }
                }
            }
        }
        let x = distinct == 0 ? 0 : 1 / Double(distinct).squareRoot()
        for c in 0..<nc { categoryScores[c] = categoryScores[c] * x + categoryBias[c] }
        if nh == 0 {
            for s in 0..<ns { severityScores[s] = severityScores[s] * x + severityBias[s] }
        } else {
            for s in 0..<ns { severityScores[s] = severityBias[s] }
            for u in 0..<nh {
                let activation = max(hidden[u] * x + hiddenBias[u], 0)
                if activation == 0 { continue }
                for s in 0..<ns { severityScores[s] += activation * hiddenOutput[u * ns + s] }
            }
        }
        var severities = Self.softmax(severityScores, temperature: temperature)
        var nearest: NearestLines?
        if let neighbours, let vote = neighbours.vote(known) {
            for s in 0..<ns { severities[s] = (1 - neighbourShare) * severities[s] + neighbourShare * vote.distribution[s] }
            nearest = vote.lines
        }
        return Posterior(
            categories: Self.softmax(categoryScores, temperature: temperature), severities: severities, knownFeatures: distinct,
            nearest: nearest)
    }

    /// The n-grams of `text` that push the model hardest toward `severity` (their share of its
    /// score above the mean of the others), strongest first; whole words and Han n-grams before
    /// character pieces (spelled `_<leak`) and single characters. Works on feature positions and
    /// builds only the strings it returns: it runs for every complaint the model calls serious.
    ///
    /// With a hidden layer, a feature's share is exact for this text: the units it does not
    /// switch on contribute nothing, and through each active unit the margin is linear in the
    /// unit's inputs, so it splits into one term per feature (plus biases, which name nothing).
    public func cues(toward severity: Severity, in text: NormalizedText, limit: Int = 3) -> [String] {
        guard let target = severities.firstIndex(of: severity), limit > 0 else { return [] }
        let known = knownPositions(text)
        let ns = severities.count
        let nh = units
        func margin(_ weights: [Double], _ base: Int) -> Double {
            var others = 0.0
            for s in 0..<ns where s != target { others += weights[base + s] }
            return weights[base + target] - others / Double(max(ns - 1, 1))
        }
        // With a hidden layer: each active unit's pull toward the target (0 for inactive units).
        var unitPull = [Double](repeating: 0, count: nh)
        if nh > 0 {
            let (sums, distinct) = hiddenSums(known)
            let x = distinct == 0 ? 0 : 1 / Double(distinct).squareRoot()
            for u in 0..<nh where sums[u] * x + hiddenBias[u] > 0 { unitPull[u] = margin(hiddenOutput, u * ns) }
        }
        var pulling: [(position: Int32, pull: Double)] = []
        var previous: Int32 = -1
        for position in known where position != previous {
            previous = position
            var pull = 0.0
            if nh == 0 {
                pull = margin(severityWeights, Int(position) * ns)
            } else {
                for u in 0..<nh { pull += Double(hiddenWeights[Int(position) * nh + u]) * unitPull[u] }
            }
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

    /// The hidden units' input sums over the distinct positions of `known` (sorted, repeats kept),
    /// and how many distinct positions there are. Sixteen units (the shipped size) are summed as one
    /// vector: the same additions per unit in the same order, without a loop per n-gram.
    private func hiddenSums(_ known: [Int32]) -> (sums: [Double], distinct: Int) {
        var sums = [Double](repeating: 0, count: units)
        var distinct = 0
        var previous: Int32 = -1
        hiddenWeights.withUnsafeBufferPointer { table in
            if units == 16 {
                var vector = SIMD16<Double>()
                for position in known where position != previous {
                    previous = position
                    distinct += 1
                    vector += SIMD16<Double>(
                        UnsafeRawPointer(table.baseAddress! + Int(position) * 16).loadUnaligned(as: SIMD16<Float>.self))
                }
                for u in 0..<16 { sums[u] = vector[u] }
            } else {
                for position in known where position != previous {
                    previous = position
                    distinct += 1
                    let h0 = Int(position) * units
                    for u in 0..<units { sums[u] += Double(table[h0 + u]) }
                }
            }
        }
        return (sums, distinct)
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
