import Foundation

/// Fits a severity head with one layer of rectified hidden units, because a logistic regression
/// can only add up its n-grams' votes, while telling a danger from an inconvenience often takes
/// a combination ("water" with "socket", "key" with "another room").
///
/// The network reads the same input as the logistic heads (binary features scaled to unit
/// length), has `units` ReLU units and a softmax over the classes, and minimises the
/// cross-entropy (each line weighted by its true class's weight) plus an L2 penalty on the
/// weights. It is fitted by Adam on mini-batches: dense, so every weight decays every step the way
/// the penalty says. Everything is deterministic — Glorot-uniform initial weights and the batch
/// order come from ``SeededGenerator``, and every sum runs in one fixed order — so the same
/// data gives the same bytes.
struct HiddenLayerTrainer: Sendable {
    var units: Int
    var epochs: Int
    var seed: Int

    static let batchSize = 200
    static let stepSize = 0.001
    static let penalty = 0.0001
    static let firstMoment = 0.9
    static let secondMoment = 0.999
    static let epsilon = 1e-8

    /// The fitted layer: `input[feature * units + unit]`, `hiddenBias[unit]`,
    /// `output[unit * classes + class]`, `outputBias[class]`.
    struct Fit {
        var input: [Double]
        var hiddenBias: [Double]
        var output: [Double]
        var outputBias: [Double]
    }

    func fit(documents: [[Int32]], labels: [Int], classes: Int, features: Int, classWeights: [Double] = []) -> Fit {
        // A stream apart from the logistic heads' shuffle, which starts from the seed itself.
        var random = SeededGenerator(seed: UInt64(truncatingIfNeeded: seed) ^ 0x9E37_79B9_7F4A_7C15)
        let inputBound = (6 / Double(features + units)).squareRoot()
        let outputBound = (6 / Double(units + classes)).squareRoot()
        // All parameters in one array, so that Adam walks them in four ranges (penalised or not):
        // [input weights | hidden bias | output weights | output bias].
        let inputCount = features * units
        let hiddenBiasStart = inputCount
        let outputStart = hiddenBiasStart + units
        let outputBiasStart = outputStart + units * classes
        let count = outputBiasStart + classes
        var parameters = [Double](repeating: 0, count: count)
        for i in 0..<outputStart { parameters[i] = random.uniform(inputBound) }
        for i in outputStart..<count { parameters[i] = random.uniform(outputBound) }
        var gradient = [Double](repeating: 0, count: count)
        var mean = [Double](repeating: 0, count: count)
        var variance = [Double](repeating: 0, count: count)

        var order = Array(documents.indices)
        var hidden = [Double](repeating: 0, count: units)
        var active = [Bool](repeating: false, count: units)
        var scores = [Double](repeating: 0, count: classes)
        var hiddenGradient = [Double](repeating: 0, count: units)
        var firstPower = 1.0
        var secondPower = 1.0

        parameters.withUnsafeMutableBufferPointer { p in
            gradient.withUnsafeMutableBufferPointer { g in
                mean.withUnsafeMutableBufferPointer { m in
                    variance.withUnsafeMutableBufferPointer { v in
                        for _ in 0..<epochs {
                            random.shuffle(&order)
                            for batchStart in stride(from: 0, to: order.count, by: Self.batchSize) {
                                let batch = order[batchStart..<min(batchStart + Self.batchSize, order.count)]
                                for i in 0..<count { g[i] = 0 }
                                for example in batch {
                                    let document = documents[example]
                                    let x = SparseInput.scale(of: document)
                                    // Forward.
                                    SparseInput.sumRows(of: document, in: p, width: units, into: &hidden)
                                    for u in 0..<units {
                                        let z = hidden[u] * x + p[hiddenBiasStart + u]
                                        active[u] = z > 0
                                        hidden[u] = active[u] ? z : 0
                                    }
                                    for k in 0..<classes {
                                        var score = p[outputBiasStart + k]
                                        for u in 0..<units { score += hidden[u] * p[outputStart + u * classes + k] }
                                        scores[k] = score
                                    }
                                    // Backward: scores becomes the loss gradient at the output logits.
                                    SoftmaxLoss.gradient(
                                        &scores, label: labels[example], cost: classWeights.isEmpty ? 1 : classWeights[labels[example]])
                                    for u in 0..<units {
                                        var back = 0.0
                                        for k in 0..<classes {
                                            g[outputStart + u * classes + k] += hidden[u] * scores[k]
                                            back += scores[k] * p[outputStart + u * classes + k]
                                        }
                                        hiddenGradient[u] = active[u] ? back : 0
                                        g[hiddenBiasStart + u] += hiddenGradient[u]
                                    }
                                    for k in 0..<classes { g[outputBiasStart + k] += scores[k] }
                                    for f in document {
                                        let base = Int(f) * units
                                        for u in 0..<units { g[base + u] += hiddenGradient[u] * x }
                                    }
                                }
                                // Mean over the batch, the penalty on weights (not biases), then Adam.
                                let n = Double(batch.count)
                                firstPower *= Self.firstMoment
                                secondPower *= Self.secondMoment
                                let rate = Self.stepSize * (1 - secondPower).squareRoot() / (1 - firstPower)
                                for (range, penalty) in [
                                    (0..<hiddenBiasStart, Self.penalty), (hiddenBiasStart..<outputStart, 0),
                                    (outputStart..<outputBiasStart, Self.penalty), (outputBiasStart..<count, 0),
                                ] {
                                    for i in range {
                                        let step = (g[i] + penalty * p[i]) / n
                                        m[i] = Self.firstMoment * m[i] + (1 - Self.firstMoment) * step
                                        v[i] = Self.secondMoment * v[i] + (1 - Self.secondMoment) * step * step
                                        p[i] -= rate * m[i] / (v[i].squareRoot() + Self.epsilon)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return Fit(
            input: Array(parameters[0..<inputCount]),
            hiddenBias: Array(parameters[hiddenBiasStart..<outputStart]),
            output: Array(parameters[outputStart..<outputBiasStart]),
            outputBias: Array(parameters[outputBiasStart..<count]))
    }
}
