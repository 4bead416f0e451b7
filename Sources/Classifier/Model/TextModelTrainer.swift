import ComplaintEvents
import Crypto
import Foundation

/// Trains a ``TextModel`` from labeled files, deterministically: examples are put in a canonical
/// order (by text, then labels) whatever order they came in, the vocabulary is sorted by UTF-8
/// bytes, the epochs shuffle with a seeded 64-bit LCG, and the weights are rounded to a fixed
/// number of places. The same inputs always give the same bytes.
///
/// Each head is a multinomial logistic regression on binary features scaled to unit length
/// (`1/√n` for a text with `n` known features), fitted by plain stochastic gradient descent on
/// the cross-entropy with an L2 penalty on the weights each step touches — or, for severity when
/// ``TextModel/Parameters/hiddenUnits`` is above 0, a network with one hidden layer
/// (``HiddenLayerTrainer``).
public struct TextModelTrainer: Sendable {
    public var parameters: TextModel.Parameters

    public init(parameters: TextModel.Parameters = .init()) {
        self.parameters = parameters
    }

    /// Trains from JSONL files (see ``LabeledExample``).
    public func train(files: [String]) throws -> TextModel {
        let ordered = files.sorted { ($0 as NSString).lastPathComponent < ($1 as NSString).lastPathComponent }
        var sources: [TextModel.Source] = []
        var examples: [LabeledExample] = []
        for file in ordered {
            let data = try Data(contentsOf: URL(fileURLWithPath: file))
            let parsed = try LabeledExample.parse(data, file: file)
            sources.append(.init(
                file: (file as NSString).lastPathComponent,
                sha256: SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined(),
                examples: parsed.count))
            examples += parsed
        }
        return train(examples: examples, sources: sources)
    }

    /// Trains from examples; `sources` describe where they came from (and enter the version hash).
    public func train(examples unordered: [LabeledExample], sources: [TextModel.Source] = []) -> TextModel {
        let categories = ComplaintCategory.allCases
        let severities = Severity.allCases
        let categoryIndex = Dictionary(uniqueKeysWithValues: categories.enumerated().map { ($1, $0) })
        let severityIndex = Dictionary(uniqueKeysWithValues: severities.enumerated().map { ($1, $0) })
        let examples = unordered.sorted { a, b in
            if a.text != b.text { return a.text.utf8.lexicographicallyPrecedes(b.text.utf8) }
            if a.category != b.category { return a.category.rawValue < b.category.rawValue }
            return a.severity.rawValue < b.severity.rawValue
        }

        // Vocabulary: features in at least `minimumCount` documents, sorted by bytes.
        let grams = examples.map { FeatureExtractor.strings(of: NormalizedText($0.text)) }
        var documentCounts: [String: Int] = [:]
        for set in grams { for gram in set { documentCounts[gram, default: 0] += 1 } }
        let vocabulary = documentCounts.filter { $0.value >= parameters.minimumCount }.map(\.key)
            .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        let position = Dictionary(uniqueKeysWithValues: vocabulary.enumerated().map { ($1, Int32($0)) })
        let documents: [[Int32]] = grams.map { set in set.compactMap { position[$0] }.sorted() }

        let categoryHead = fit(
            documents: documents, labels: examples.map { categoryIndex[$0.category]! }, classes: categories.count, features: vocabulary.count)
        let severityLabels = examples.map { severityIndex[$0.severity]! }
        let severityCosts = severities.map { $0 == .serious ? parameters.seriousWeight : 1 }
        let places = parameters.decimals
        let units = parameters.hiddenUnits
        // Either a logistic severity head (weights per feature and severity) or a hidden layer.
        var severityHead: (weights: [Double], bias: [Double]) = ([], [])
        var hiddenLayer: HiddenLayerTrainer.Fit?
        if units > 0 {
            hiddenLayer = HiddenLayerTrainer(units: units, epochs: parameters.hiddenEpochs, seed: parameters.seed).fit(
                documents: documents, labels: severityLabels, classes: severities.count, features: vocabulary.count,
                classWeights: severityCosts)
        } else {
            severityHead = fit(
                documents: documents, labels: severityLabels, classes: severities.count, features: vocabulary.count,
                classWeights: severityCosts)
        }

        var features: [TextModel.Feature] = []
        features.reserveCapacity(vocabulary.count)
        for (index, gram) in vocabulary.enumerated() {
            let c = (0..<categories.count).map { TextModel.rounded(categoryHead.weights[index * categories.count + $0], places: places) }
            if let hiddenLayer {
                let h = (0..<units).map { TextModel.rounded(hiddenLayer.input[index * units + $0], places: places) }
                features.append(.init(gram: gram, categoryWeights: c, hiddenWeights: h))
            } else {
                let s = (0..<severities.count).map { TextModel.rounded(severityHead.weights[index * severities.count + $0], places: places) }
                features.append(.init(gram: gram, categoryWeights: c, severityWeights: s))
            }
        }

        var hasher = SHA256()
        hasher.update(data: Data("\(TextModel.formatName)\n\(parameters.canonical)\n".utf8))
        if sources.isEmpty {
            for example in examples { hasher.update(data: Data("\(example.category.rawValue)\t\(example.severity.rawValue)\t\(example.text)\n".utf8)) }
        } else {
            for source in sources { hasher.update(data: Data("\(source.file)\t\(source.sha256)\n".utf8)) }
        }
        let digest = hasher.finalize().map { String(format: "%02x", $0) }.joined()
        let memory = parameters.neighbours > 0
            ? NeighbourMemory.remember(
                documents: documents, severities: severityLabels, vocabulary: vocabulary, limit: parameters.neighbourFeatureLimit)
            : nil
        return TextModel(
            format: memory != nil ? TextModel.memoryFormatName : units > 0 ? TextModel.hiddenFormatName : TextModel.formatName,
            version: (units > 0 ? "mlp-" : "lr-") + digest.prefix(12), parameters: parameters, sources: sources,
            categories: categories, severities: severities,
            categoryBias: categoryHead.bias.map { TextModel.rounded($0, places: places) },
            severityBias: (hiddenLayer?.outputBias ?? severityHead.bias).map { TextModel.rounded($0, places: places) },
            hidden: hiddenLayer.map { layer in
                TextModel.HiddenLayer(
                    bias: layer.hiddenBias.map { TextModel.rounded($0, places: places) },
                    output: layer.output.map { TextModel.rounded($0, places: places) })
            },
            features: features, memory: memory)
    }

    /// One softmax head by SGD: `weights[feature * classes + class]`. A line's loss is multiplied
    /// by the weight of its true class (`classWeights`, all 1 when empty).
    func fit(documents: [[Int32]], labels: [Int], classes: Int, features: Int, classWeights: [Double] = []) -> (weights: [Double], bias: [Double]) {
        var weights = [Double](repeating: 0, count: features * classes)
        var bias = [Double](repeating: 0, count: classes)
        var order = Array(documents.indices)
        var random = SeededGenerator(seed: UInt64(truncatingIfNeeded: parameters.seed))
        var scores = [Double](repeating: 0, count: classes)
        let l2 = parameters.l2
        weights.withUnsafeMutableBufferPointer { w in
            for epoch in 0..<parameters.epochs {
                random.shuffle(&order)
                let rate = parameters.learningRate / (1 + 0.05 * Double(epoch))
                for example in order {
                    let document = documents[example]
                    let x = SparseInput.scale(of: document)
                    SparseInput.sumRows(of: document, in: w, width: classes, into: &scores)
                    for k in 0..<classes { scores[k] = scores[k] * x + bias[k] }
                    // scores becomes the gradient of the (weighted) loss with respect to the logits.
                    SoftmaxLoss.gradient(&scores, label: labels[example], cost: classWeights.isEmpty ? 1 : classWeights[labels[example]])
                    for f in document {
                        let base = Int(f) * classes
                        for k in 0..<classes { w[base + k] -= rate * (scores[k] * x + l2 * w[base + k]) }
                    }
                    for k in 0..<classes { bias[k] -= rate * scores[k] }
                }
            }
        }
        return (weights, bias)
    }
}
