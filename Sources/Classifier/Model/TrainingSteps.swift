import Foundation

/// The seeded 64-bit LCG (Knuth's MMIX constants) both trainers draw from, so that a model is the
/// same bytes on every machine: it orders the examples of each epoch and sets the hidden layer's
/// starting weights.
struct SeededGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return state
    }

    /// Uniform in `[-bound, bound)`, from the top 53 bits.
    mutating func uniform(_ bound: Double) -> Double {
        (Double(next() >> 11) / 9_007_199_254_740_992) * 2 * bound - bound
    }

    /// Fisher–Yates, each swap from the top 31 bits of the next state.
    mutating func shuffle(_ order: inout [Int]) {
        guard order.count > 1 else { return }
        for i in stride(from: order.count - 1, to: 0, by: -1) {
            order.swapAt(i, Int((next() >> 33) % UInt64(i + 1)))
        }
    }
}

/// The softmax cross-entropy step both trainers take at their output.
enum SoftmaxLoss {
    /// Turns `logits` into the gradient of the loss at them: softmax minus the one-hot `label`,
    /// times `cost` (the weight of the line's true class).
    static func gradient(_ logits: inout [Double], label: Int, cost: Double) {
        var maximum = -Double.infinity
        for k in logits.indices { maximum = max(maximum, logits[k]) }
        var sum = 0.0
        for k in logits.indices {
            logits[k] = exp(logits[k] - maximum)
            sum += logits[k]
        }
        for k in logits.indices { logits[k] = cost * (logits[k] / sum - (k == label ? 1 : 0)) }
    }
}

/// How both trainers read a document: its known features' rows of a weight table, added up and
/// scaled to unit length, as ``TextModelScorer`` reads it when scoring.
enum SparseInput {
    /// `1/√n` for a document of `n` distinct features (0 for none).
    static func scale(of document: [Int32]) -> Double {
        document.isEmpty ? 0 : 1 / Double(document.count).squareRoot()
    }

    /// `sums[k]` = the sum over the document's features `f` of `table[f * width + k]`, in feature order.
    static func sumRows(of document: [Int32], in table: UnsafeMutableBufferPointer<Double>, width: Int, into sums: inout [Double]) {
        for k in 0..<width { sums[k] = 0 }
        for f in document {
            let base = Int(f) * width
            for k in 0..<width { sums[k] += table[base + k] }
        }
    }
}
