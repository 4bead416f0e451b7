/// Counts of (actual, predicted) label pairs, and the usual measures derived from them.
public struct ConfusionMatrix<Label: Hashable & Sendable>: Sendable {
    public let labels: [Label]
    private var counts: [Label: [Label: Int]] = [:]
    public private(set) var total = 0

    public init(labels: [Label]) {
        self.labels = labels
    }

    public mutating func add(actual: Label, predicted: Label) {
        counts[actual, default: [:]][predicted, default: 0] += 1
        total += 1
    }

    public func count(actual: Label, predicted: Label) -> Int { counts[actual]?[predicted] ?? 0 }

    /// Adds another matrix's counts (cross-validation folds).
    public mutating func merge(_ other: ConfusionMatrix) {
        for (actual, row) in other.counts {
            for (predicted, count) in row { counts[actual, default: [:]][predicted, default: 0] += count }
        }
        total += other.total
    }

    public var accuracy: Double {
        guard total > 0 else { return 0 }
        return Double(labels.reduce(0) { $0 + count(actual: $1, predicted: $1) }) / Double(total)
    }

    /// Precision, recall and F1 of one label (0 where undefined).
    public func scores(of label: Label) -> (precision: Double, recall: Double, f1: Double, support: Int) {
        let truePositives = Double(count(actual: label, predicted: label))
        let predicted = Double(labels.reduce(0) { $0 + count(actual: $1, predicted: label) })
        let support = labels.reduce(0) { $0 + count(actual: label, predicted: $1) }
        let precision = predicted > 0 ? truePositives / predicted : 0
        let recall = support > 0 ? truePositives / Double(support) : 0
        let f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
        return (precision, recall, f1, support)
    }

    /// Mean F1 over the labels that occur (as actual or predicted).
    public var macroF1: Double {
        let present = labels.filter { label in scores(of: label).support > 0 || labels.contains { count(actual: $0, predicted: label) > 0 } }
        guard !present.isEmpty else { return 0 }
        return present.reduce(0) { $0 + scores(of: $1).f1 } / Double(present.count)
    }
}
