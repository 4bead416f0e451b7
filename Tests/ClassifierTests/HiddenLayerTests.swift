@testable import Classifier
import ComplaintEvents
import Foundation
import Testing

@Suite("The severity head's hidden layer")
struct HiddenLayerTests {
    static let examples = [
        LabeledExample(text: "socket sparks next to the bath", category: .maintenance, severity: .serious),
        LabeledExample(text: "插座冒火花", category: .maintenance, severity: .serious),
        LabeledExample(text: "another guest's key opens my room", category: .safetySecurity, severity: .serious),
        LabeledExample(text: "房卡能打开别人的房间", category: .safetySecurity, severity: .serious),
        LabeledExample(text: "the bath is a bit small", category: .amenities, severity: .minor),
        LabeledExample(text: "浴缸有点小", category: .amenities, severity: .minor),
        LabeledExample(text: "room key stopped working twice", category: .frontDesk, severity: .moderate),
        LabeledExample(text: "房卡失灵两次", category: .frontDesk, severity: .moderate),
    ]
    // Eight lines are one mini-batch, so each epoch is one step: enough of them to fit. No memory
    // of the lines (NeighbourMemoryTests): the network alone must learn them.
    static let parameters = TextModel.Parameters(minimumCount: 1, hiddenUnits: 8, hiddenEpochs: 400, neighbours: 0)

    @Test("learns its training lines, names the words that make one serious, and reads back from its file unchanged")
    func learnsAndRoundTrips() throws {
        let model = TextModelTrainer(parameters: Self.parameters).train(examples: Self.examples)
        #expect(model.format == TextModel.hiddenFormatName && model.version.hasPrefix("mlp-"))
        #expect(model.hidden?.bias.count == 8 && model.hidden?.output.count == 8 * model.severities.count)
        #expect(model.features.allSatisfy { $0.hiddenWeights.count == 8 && $0.severityWeights.isEmpty })

        let scorer = TextModelScorer(model: model)
        for example in Self.examples {
            let severities = scorer.posterior(NormalizedText(example.text)).severities
            let best = severities.indices.max { severities[$0] < severities[$1] }!
            #expect(scorer.severities[best] == example.severity, "\(example.text): \(severities)")
        }
        // "the" and "bath" are in a minor line too: the cues are the words only serious lines have.
        let cues = scorer.cues(toward: .serious, in: NormalizedText("the bath socket sparks"), limit: 3)
        #expect(!cues.isEmpty && cues.allSatisfy { $0.contains("spark") || $0.contains("socket") }, "\(cues)")
        #expect(scorer.cues(toward: .serious, in: NormalizedText("插座冒火花")).contains { $0.contains("火花") || $0.contains("插座") })

        let file = FileManager.default.temporaryDirectory.appendingPathComponent("hidden-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try Data(model.serialized().utf8).write(to: URL(fileURLWithPath: file))
        let loaded = try TextModel.load(contentsOf: file)
        #expect(loaded == model)
        #expect(loaded.serialized() == model.serialized())
        #expect(model.serialized().contains("\"hiddenUnits\": 8, \"hiddenEpochs\": 400"))
    }

    @Test("training twice, in any order, gives the same bytes; the hidden layer's size enters the version")
    func deterministic() {
        let trainer = TextModelTrainer(parameters: Self.parameters)
        let a = trainer.train(examples: Self.examples)
        #expect(a.serialized() == trainer.train(examples: Self.examples.reversed()).serialized())
        var wider = Self.parameters
        wider.hiddenUnits = 12
        #expect(TextModelTrainer(parameters: wider).train(examples: Self.examples).version != a.version)
        var plain = Self.parameters
        plain.hiddenUnits = 0
        let logistic = TextModelTrainer(parameters: plain).train(examples: Self.examples)
        #expect(logistic.format == TextModel.formatName && logistic.hidden == nil && !logistic.serialized().contains("hidden"))
    }

    @Test("a file whose hidden layer does not match its features or its format is refused with the reason")
    func refusesMismatches() throws {
        let model = TextModelTrainer(parameters: Self.parameters).train(examples: Self.examples)
        var short = model
        short.hidden?.output.removeLast()
        var mislabelled = model
        mislabelled.format = TextModel.formatName
        for (broken, reason) in [(short, "weight arrays do not match"), (mislabelled, "does not match the hidden layer")] {
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("hidden-\(UUID().uuidString).json").path
            defer { try? FileManager.default.removeItem(atPath: file) }
            try Data(broken.serialized().utf8).write(to: URL(fileURLWithPath: file))
            let error = #expect(throws: ModelFileError.self) { try TextModel.load(contentsOf: file) }
            #expect(error?.reason.contains(reason) == true, "\(String(describing: error))")
        }
    }
}
