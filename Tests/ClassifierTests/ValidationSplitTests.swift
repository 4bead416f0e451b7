@testable import Classifier
import ComplaintEvents
import Foundation
import Testing

@Suite("Train-only validation split and cross-validation folds")
struct ValidationSplitTests {
    @Test("a fifth of each category, the same lines whatever the order of the input, a minimal pair on one side")
    func stratifiedAndStable() throws {
        var examples: [LabeledExample] = []
        for file in Repository.trainingFiles { examples += try LabeledExample.read(contentsOf: file) }
        let parts = ValidationSplit.partition(examples)
        #expect(parts.fit.count + parts.validation.count == examples.count)
        for category in ComplaintCategory.allCases {
            let total = examples.filter { $0.category == category && $0.pair == nil }.count
            let held = parts.validation.filter { $0.category == category && $0.pair == nil }.count
            #expect(held == total / 5, "\(category)")
        }
        let reversed = ValidationSplit.partition(examples.reversed())
        #expect(Set(reversed.validation.map(\.text)) == Set(parts.validation.map(\.text)))
        #expect(Set(parts.validation.map(\.text)).isDisjoint(with: Set(parts.fit.map(\.text))))

        let pairs = Set(examples.compactMap(\.pair))
        let heldPairs = Set(parts.validation.compactMap(\.pair))
        #expect(pairs.count > 300)
        #expect(heldPairs.isDisjoint(with: Set(parts.fit.compactMap(\.pair))), "a pair split between fit and validation")
        #expect(Double(heldPairs.count) > 0.1 * Double(pairs.count) && Double(heldPairs.count) < 0.3 * Double(pairs.count))
    }

    @Test("cross-validation takes every k-th line, and a pair's lines into its first line's fold")
    func folds() {
        func line(_ text: String, pair: String? = nil) -> LabeledExample {
            LabeledExample(text: text, category: .noise, severity: .minor, pair: pair)
        }
        let examples = [line("a"), line("b", pair: "p1"), line("c"), line("d", pair: "p1"), line("e", pair: "p2"), line("f", pair: "p2"), line("g")]
        #expect(CrossValidationFolds.assign(examples, folds: 3) == [0, 1, 2, 1, 1, 1, 0])
        let unpaired = examples.map { line($0.text) }
        #expect(CrossValidationFolds.assign(unpaired, folds: 3) == [0, 1, 2, 0, 1, 2, 0])
    }

    @Test("a data line may name its pair")
    func pairField() throws {
        let data = """
            {"text": "the bartender said 'your kind don't tip'", "category": "staff_behavior", "severity": "serious", "language": "en", "pair": "en-001"}
            {"text": "the bartender ignored us", "category": "staff_behavior", "severity": "moderate", "language": "en", "pair": "en-001"}
            {"text": "slow wifi", "category": "connectivity", "severity": "minor"}
            """
        let examples = try LabeledExample.parse(Data(data.utf8), file: "pairs.jsonl")
        #expect(examples.map(\.pair) == ["en-001", "en-001", nil])
    }
}
