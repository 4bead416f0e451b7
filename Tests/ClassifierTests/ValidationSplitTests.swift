@testable import Classifier
import ComplaintEvents
import Testing

@Suite("Train-only validation split")
struct ValidationSplitTests {
    @Test("a fifth of each category, the same lines whatever the order of the input")
    func stratifiedAndStable() throws {
        var examples: [LabeledExample] = []
        for file in Repository.trainingFiles { examples += try LabeledExample.read(contentsOf: file) }
        let parts = ValidationSplit.partition(examples)
        #expect(parts.fit.count + parts.validation.count == examples.count)
        for category in ComplaintCategory.allCases {
            let total = examples.filter { $0.category == category }.count
            let held = parts.validation.filter { $0.category == category }.count
            #expect(held == total / 5, "\(category)")
        }
        let reversed = ValidationSplit.partition(examples.reversed())
        #expect(Set(reversed.validation.map(\.text)) == Set(parts.validation.map(\.text)))
        #expect(Set(parts.validation.map(\.text)).isDisjoint(with: Set(parts.fit.map(\.text))))
    }
}
