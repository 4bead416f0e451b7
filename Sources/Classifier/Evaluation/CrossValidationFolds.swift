/// Which fold each training line falls in for `redress classifier eval --folds K`: every K-th line,
/// except that the lines of a minimal pair (``LabeledExample/pair``) share the fold of the pair's
/// first line. Split across folds, each line of a pair would be scored by a model that learnt its
/// twin with the other label — the pair's deciding detail seen once, against it.
public enum CrossValidationFolds {
    /// The fold (0..<`folds`) of each example, in order.
    public static func assign(_ examples: [LabeledExample], folds: Int) -> [Int] {
        var firstOffset: [String: Int] = [:]
        return examples.enumerated().map { offset, example in
            guard let pair = example.pair else { return offset % folds }
            let first = firstOffset[pair] ?? offset
            firstOffset[pair] = first
            return first % folds
        }
    }
}
