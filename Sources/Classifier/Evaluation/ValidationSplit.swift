import ComplaintEvents

/// A fixed, train-only validation protocol: the training lines split 80/20, stratified by
/// category, deterministically by a hash of the text (FNV-1a 64 over UTF-8). Edit the rules
/// looking only at errors on the `fit` part (cross-validated), measure on `validation` with a
/// model trained on `fit`; the held-out eval files stay untouched. The lines of a minimal pair
/// (``LabeledExample/pair``) fall on one side together, by a hash of the pair's name.
public enum ValidationSplit {
    /// Which part of the training lines.
    public enum Part: String, Sendable, CaseIterable {
        case fit
        case validation
    }

    /// Every fifth line of each category, in hash order, is a validation line; a pair is, when its
    /// name's hash is 4 modulo 5.
    public static func partition(_ examples: [LabeledExample]) -> (fit: [LabeledExample], validation: [LabeledExample]) {
        var byCategory: [ComplaintCategory: [(hash: UInt64, index: Int)]] = [:]
        var isValidation = [Bool](repeating: false, count: examples.count)
        for (index, example) in examples.enumerated() {
            if let pair = example.pair {
                isValidation[index] = hash(pair) % 5 == 4
            } else {
                byCategory[example.category, default: []].append((hash(example.text), index))
            }
        }
        for (_, members) in byCategory {
            let ordered = members.sorted { $0.hash != $1.hash ? $0.hash < $1.hash : $0.index < $1.index }
            for (rank, member) in ordered.enumerated() where rank % 5 == 4 { isValidation[member.index] = true }
        }
        var fit: [LabeledExample] = []
        var validation: [LabeledExample] = []
        for (index, example) in examples.enumerated() {
            if isValidation[index] { validation.append(example) } else { fit.append(example) }
        }
        return (fit, validation)
    }

    static func hash(_ text: String) -> UInt64 {
        var value: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            value ^= UInt64(byte)
            value &*= 0x0000_0100_0000_01b3
        }
        return value
    }
}
