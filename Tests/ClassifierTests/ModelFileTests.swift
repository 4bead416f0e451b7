@testable import Classifier
import ComplaintEvents
import Foundation
import Testing

@Suite("The shipped model")
struct ModelFileTests {
    @Test("model.json is what training on the shipped data produces, byte for byte")
    func reproducible() throws {
        let shipped = try String(contentsOfFile: Repository.modelFile, encoding: .utf8)
        let model = try TextModel.load(contentsOf: Repository.modelFile)
        let retrained = try TextModelTrainer(parameters: model.parameters).train(files: Repository.trainingFiles)
        #expect(retrained.version == model.version, "retrain with `redress classifier train`")
        #expect(retrained.serialized() == shipped, "retrain with `redress classifier train`")
        // What is scored in memory after training is what is read back from the file.
        #expect(retrained == model)
    }

    @Test("training is deterministic and the version follows data and parameters")
    func deterministic() {
        let examples = [
            LabeledExample(text: "空调坏了", category: .maintenance, severity: .moderate),
            LabeledExample(text: "air conditioning broken", category: .maintenance, severity: .moderate),
            LabeledExample(text: "房间很吵", category: .noise, severity: .minor),
            LabeledExample(text: "noisy room", category: .noise, severity: .minor),
        ]
        let trainer = TextModelTrainer(parameters: .init(minimumCount: 1))
        let a = trainer.train(examples: examples)
        let b = trainer.train(examples: examples.reversed())
        #expect(a.serialized() == b.serialized())
        let c = TextModelTrainer(parameters: .init(l2: 0.01, minimumCount: 1)).train(examples: examples)
        #expect(c.version != a.version)
        #expect(TextModel.decimal(0.3) == "0.3" && TextModel.decimal(1) == "1.0" && TextModel.decimal(-0.00004, places: 4) == "0.0")
        #expect(TextModel.decimal(-1.23456, places: 4) == "-1.2346")
    }

    @Test("the model learns its training examples")
    func learns() {
        let examples = [
            LabeledExample(text: "空调坏了", category: .maintenance, severity: .moderate),
            LabeledExample(text: "air conditioning broken", category: .maintenance, severity: .moderate),
            LabeledExample(text: "房间很吵", category: .noise, severity: .minor),
            LabeledExample(text: "noisy room", category: .noise, severity: .minor),
        ]
        let scorer = TextModelScorer(model: TextModelTrainer(parameters: .init(minimumCount: 1)).train(examples: examples))
        for example in examples {
            let posterior = scorer.posterior(NormalizedText(example.text))
            let best = posterior.categories.indices.max { posterior.categories[$0] < posterior.categories[$1] }!
            #expect(scorer.categories[best] == example.category, "\(example.text)")
        }
    }

    @Test("a heavier serious weight in the loss makes an ambiguous line more likely serious, and is recorded in the file")
    func seriousWeight() throws {
        let examples = [
            LabeledExample(text: "wires hanging from the ceiling", category: .maintenance, severity: .serious),
            LabeledExample(text: "ceiling light flickers", category: .maintenance, severity: .minor),
            LabeledExample(text: "ceiling stain", category: .maintenance, severity: .minor),
            LabeledExample(text: "socket sparks", category: .maintenance, severity: .serious),
        ]
        // The logistic severity head (the hidden layer's own test is in HiddenLayerTests).
        let plain = TextModelTrainer(parameters: .init(minimumCount: 1, hiddenUnits: 0)).train(examples: examples)
        let weighted = TextModelTrainer(parameters: .init(minimumCount: 1, seriousWeight: 3, hiddenUnits: 0)).train(examples: examples)
        let serious = try #require(plain.severities.firstIndex(of: .serious))
        let text = NormalizedText("ceiling wires")
        let before = TextModelScorer(model: plain).posterior(text).severities[serious]
        let after = TextModelScorer(model: weighted).posterior(text).severities[serious]
        #expect(after > before, "P(serious) \(before) → \(after)")
        #expect(weighted.version != plain.version)
        #expect(!plain.serialized().contains("seriousWeight") && weighted.serialized().contains("\"seriousWeight\": 3.0"))
        let decoded = try JSONDecoder().decode(TextModel.self, from: Data(weighted.serialized().utf8))
        #expect(decoded.parameters.seriousWeight == 3 && decoded == weighted)
    }
}
