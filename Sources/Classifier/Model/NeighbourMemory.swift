import Foundation

/// The training lines the model remembers, so that severity also gets a nearest-neighbour vote:
/// the network weighs n-grams one by one through 16 units, while the closest lines that were
/// labelled before carry their whole wording ("mouldy bread at breakfast" beside "mould on the
/// bathroom ceiling"); the two make different mistakes, and their blend ranks serious
/// complaints better than either (classifier README, "Nearest lines").
///
/// Each line keeps its severity and its rarer words, word pairs and Han n-grams — those in at
/// most ``TextModel/Parameters/neighbourFeatureLimit`` training lines. Common n-grams (`the`,
/// `房间`) say little about which lines are alike; the character pieces of words (`_<leak`) carry
/// spelling more than meaning and would make four times the lookups for the same ranking
/// (README, "Nearest lines"). A lookup is then a couple of thousand additions.
public struct NeighbourMemory: Codable, Sendable, Hashable {
    /// One training line: its severity (a position in ``TextModel/severities``) and the sorted
    /// positions (in ``TextModel/features``) of its remembered features.
    public struct Line: Codable, Sendable, Hashable {
        public var severity: Int
        public var features: [Int32]

        public init(severity: Int, features: [Int32]) {
            self.severity = severity
            self.features = features
        }

        enum CodingKeys: String, CodingKey {
            case severity = "s", features = "f"
        }
    }

    public var lines: [Line]

    public init(lines: [Line]) {
        self.lines = lines
    }

    /// Keeps, of each document's feature positions, those of words and Han n-grams (not
    /// character pieces, spelled with a leading `_`) in at most `limit` documents.
    static func remember(documents: [[Int32]], severities: [Int], vocabulary: [String], limit: Int) -> NeighbourMemory {
        var counts = [Int](repeating: 0, count: vocabulary.count)
        for document in documents { for f in document { counts[Int(f)] += 1 } }
        let kept = vocabulary.indices.map { counts[$0] <= limit && !vocabulary[$0].hasPrefix("_") }
        return NeighbourMemory(lines: zip(documents, severities).map { document, severity in
            Line(severity: severity, features: document.filter { kept[Int($0)] })
        })
    }
}

/// How many of the training lines nearest to a complaint were serious, for the explanation ("7 of the
/// 10 most similar training lines serious").
public struct NearestLines: Sendable, Hashable {
    public var serious: Int
    public var of: Int
}

/// A ``NeighbourMemory`` ready to vote: an inverted index from feature position to the lines that
/// have it, with each feature's inverse document frequency and each line's length. Similarity is
/// the cosine of idf-weighted binary vectors; the `count` most similar lines vote for their
/// severity with the similarity raised to `sharpness`, so a near twin outweighs a distant cousin.
struct NeighbourIndex: Sendable {
    let count: Int
    let sharpness: Double
    private let severities: Int
    /// The position of `serious` among the severities (-1 if absent), to count serious neighbours.
    private let seriousLabel: Int
    /// Per feature position: where its lines start in ``postings`` (`starts[f]..<starts[f + 1]`).
    private let starts: [Int32]
    private let postings: [Int32]
    /// Per feature position: idf² (0 when no remembered line has the feature).
    private let weights: [Float]
    /// Per line: 1 / the length of its idf-weighted vector, and its severity.
    private let inverseLengths: [Float]
    private let labels: [Int]

    init(memory: NeighbourMemory, features: Int, severities: Int, seriousLabel: Int?, count: Int, sharpness: Double) {
        self.count = count
        self.sharpness = sharpness
        self.severities = severities
        self.seriousLabel = seriousLabel ?? -1
        var frequency = [Int32](repeating: 0, count: features)
        for line in memory.lines { for f in line.features { frequency[Int(f)] += 1 } }
        var starts = [Int32](repeating: 0, count: features + 1)
        for f in 0..<features { starts[f + 1] = starts[f] + frequency[f] }
        var postings = [Int32](repeating: 0, count: Int(starts[features]))
        var next = starts
        for (number, line) in memory.lines.enumerated() {
            for f in line.features {
                postings[Int(next[Int(f)])] = Int32(number)
                next[Int(f)] += 1
            }
        }
        let total = Double(memory.lines.count)
        let weights = frequency.map { count -> Float in
            let idf = log((1 + total) / (1 + Double(count))) + 1
            return count == 0 ? 0 : Float(idf * idf)
        }
        self.starts = starts
        self.postings = postings
        self.weights = weights
        inverseLengths = memory.lines.map { line in
            let length = line.features.reduce(Float(0)) { $0 + weights[Int($1)] }.squareRoot()
            return length == 0 ? 0 : 1 / length
        }
        labels = memory.lines.map(\.severity)
    }

    /// The severity distribution of the nearest lines to a text whose known feature positions are
    /// `known` (sorted, repeats kept), and how many of them are serious; nil when it shares no
    /// remembered feature with any line.
    func vote(_ known: [Int32]) -> (distribution: [Double], lines: NearestLines)? {
        let (nearest, norm) = self.nearest(known)
        if nearest.isEmpty { return nil }
        var distribution = [Double](repeating: 0, count: severities)
        var serious = 0
        for (line, similarity) in nearest {
            let label = labels[Int(line)]
            distribution[label] += pow(Double(similarity) / norm, sharpness)
            if label == seriousLabel { serious += 1 }
        }
        let sum = distribution.reduce(0, +)
        guard sum > 0 else { return nil }
        return (distribution.map { $0 / sum }, NearestLines(serious: serious, of: nearest.count))
    }

    /// The `count` lines most similar to `known`, most similar first, with their unnormalised
    /// similarity, and the length of the text's vector (to normalise it).
    private func nearest(_ known: [Int32]) -> (lines: [(line: Int32, similarity: Float)], norm: Double) {
        let lineCount = labels.count
        // The `count` most similar lines, most similar first (ties: the earlier line).
        var nearest: [(line: Int32, similarity: Float)] = []
        nearest.reserveCapacity(count + 1)
        var queryLength: Float = 0
        withUnsafeTemporaryAllocation(of: Float.self, capacity: lineCount) { scores in
            scores.initialize(repeating: 0)
            // Each line that shares a feature, once, in the order first met: written on every
            // addition, kept (the count moves on) only when the line's score was still 0, so the
            // walk has no branch on it.
            withUnsafeTemporaryAllocation(of: Int32.self, capacity: lineCount + 1) { touched in
                var touchedCount = 0
                postings.withUnsafeBufferPointer { postings in
                    starts.withUnsafeBufferPointer { starts in
                        var previous: Int32 = -1
                        for position in known where position != previous {
                            previous = position
                            let weight = weights[Int(position)]
                            if weight == 0 { continue }
                            queryLength += weight
                            for slot in Int(starts[Int(position)])..<Int(starts[Int(position) + 1]) {
                                let line = postings[slot]
                                touched[touchedCount] = line
                                touchedCount &+= scores[Int(line)] == 0 ? 1 : 0
                                scores[Int(line)] += weight
                            }
                        }
                    }
                }
                inverseLengths.withUnsafeBufferPointer { inverseLengths in
                    for index in 0..<touchedCount {
                        let line = touched[index]
                        let similarity = scores[Int(line)] * inverseLengths[Int(line)]
                        if nearest.count == count, let last = nearest.last,
                           similarity < last.similarity || (similarity == last.similarity && line > last.line) {
                            continue
                        }
                        var at = nearest.count
                        while at > 0, nearest[at - 1].similarity < similarity || (nearest[at - 1].similarity == similarity && nearest[at - 1].line > line) {
                            at -= 1
                        }
                        nearest.insert((line, similarity), at: at)
                        if nearest.count > count { nearest.removeLast() }
                    }
                }
            }
        }
        return (nearest, Double(queryLength.squareRoot()))
    }
}
