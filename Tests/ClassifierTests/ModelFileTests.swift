@testable import Classifier
import ComplaintEvents
import Foundation
import Testing

@Suite("The shipped model")
struct ModelFileTests {
    @Test("model.json is what training on the shipped data produces, byte for byte")
    func reproducible() throws {
        let shipped = try String(contentsOfFile: Repository.modelFile, encoding: .utf8)
        let model = try NaiveBayesModel.load(contentsOf: Repository.modelFile)
        let retrained = try NaiveBayesTrainer(parameters: model.parameters).train(files: Repository.trainingFiles)
        #expect(retrained.version == model.version, "retrain with `redress classifier train`")
        #expect(retrained.serialized() == shipped, "retrain with `redress classifier train`")
    }

    @Test("training is deterministic and the version follows data and parameters")
    func deterministic() {
        let examples = [
            LabeledExample(text: "空调坏了", category: .maintenance, severity: .moderate),
            LabeledExample(text: "air conditioning broken", category: .maintenance, severity: .moderate),
            LabeledExample(text: "房间很吵", category: .noise, severity: .minor),
            LabeledExample(text: "noisy room", category: .noise, severity: .minor),
        ]
        let trainer = NaiveBayesTrainer(parameters: .init(minimumCount: 1))
        let a = trainer.train(examples: examples)
        let b = trainer.train(examples: examples.reversed())
        #expect(a.serialized() == b.serialized())
        let c = NaiveBayesTrainer(parameters: .init(alpha: 0.5, minimumCount: 1)).train(examples: examples)
        #expect(c.version != a.version)
        #expect(NaiveBayesModel.decimal(0.3) == "0.3" && NaiveBayesModel.decimal(1) == "1.0")
    }
}
