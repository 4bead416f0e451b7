@testable import Classifier
import ComplaintEvents
import Foundation
import Testing

@Suite("The model's memory of its training lines")
struct NeighbourMemoryTests {
    static let examples = [
        LabeledExample(text: "shower tap gave my wife an electric shock", category: .maintenance, severity: .serious),
        LabeledExample(text: "淋浴龙头漏电，被电了一下", category: .maintenance, severity: .serious),
        LabeledExample(text: "shower is a bit weak in the morning", category: .maintenance, severity: .minor),
        LabeledExample(text: "the shower drain is slow", category: .maintenance, severity: .minor),
        LabeledExample(text: "淋浴水压有点小", category: .maintenance, severity: .minor),
        LabeledExample(text: "no hot water in the shower all evening", category: .maintenance, severity: .moderate),
        LabeledExample(text: "淋浴一直没有热水", category: .maintenance, severity: .moderate),
        LabeledExample(text: "the shower door is broken", category: .maintenance, severity: .moderate),
    ]
    static let parameters = TextModel.Parameters(minimumCount: 1, hiddenUnits: 4, hiddenEpochs: 50, neighbours: 3, neighbourFeatureLimit: 2)
    /// The same network without a memory of its lines.
    static let networkOnly = TextModel.Parameters(minimumCount: 1, hiddenUnits: 4, hiddenEpochs: 50, neighbours: 0)

    @Test("remembers each line's rarer words and Han n-grams (no character pieces), and reads back from its file unchanged")
    func remembersAndRoundTrips() throws {
        let model = TextModelTrainer(parameters: Self.parameters).train(examples: Self.examples)
        #expect(model.format == TextModel.memoryFormatName)
        let memory = try #require(model.memory)
        #expect(memory.lines.count == Self.examples.count)
        var documents = [Int](repeating: 0, count: model.features.count)
        for example in Self.examples {
            for gram in FeatureExtractor.strings(of: NormalizedText(example.text)) {
                if let position = model.features.firstIndex(where: { $0.gram == gram }) { documents[position] += 1 }
            }
        }
        let remembered = Set(memory.lines.flatMap(\.features))
        #expect(!remembered.isEmpty)
        for position in remembered {
            let gram = model.features[Int(position)].gram
            #expect(!gram.hasPrefix("_") && documents[Int(position)] <= 2, "\(gram) in \(documents[Int(position)]) lines")
        }
        // "shower" is in six lines, "淋" in four: too common to tell lines apart.
        #expect(!remembered.contains { ["shower", "淋", "淋浴"].contains(model.features[Int($0)].gram) })
        #expect(remembered.contains { model.features[Int($0)].gram == "electric shock" })

        let text = model.serialized()
        #expect(text.contains("\"neighbours\": 3, \"neighbourShare\": 0.3, \"neighbourSharpness\": 3.0, \"neighbourFeatureLimit\": 2"))
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("memory-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try Data(text.utf8).write(to: URL(fileURLWithPath: file))
        let loaded = try TextModel.load(contentsOf: file)
        #expect(loaded == model && loaded.serialized() == text)
        // The memory enters the file's parameters, so the version.
        var other = Self.parameters
        other.neighbourSharpness = 2
        #expect(TextModelTrainer(parameters: other).train(examples: Self.examples).version != model.version)
    }

    @Test("the most similar lines vote, nearer ones louder; a text sharing nothing with any line gets no vote")
    func votes() throws {
        // Lines (features): 0 serious {0, 1}; 1 minor {2, 3}; 2 moderate {1, 3}; 3 minor {0, 1} (the twin of line 0).
        let memory = NeighbourMemory(lines: [
            .init(severity: 2, features: [0, 1]), .init(severity: 0, features: [2, 3]),
            .init(severity: 1, features: [1, 3]), .init(severity: 0, features: [0, 1]),
        ])
        let one = NeighbourIndex(memory: memory, features: 5, severities: 3, seriousLabel: 2, count: 1, sharpness: 3)
        // Lines 0 and 3 are equally near: the earlier line wins the tie.
        #expect(one.vote([0, 1])?.distribution == [0, 0, 1] && one.vote([0, 1])?.lines == NearestLines(serious: 1, of: 1))
        #expect(one.vote([2, 2, 3])?.distribution == [1, 0, 0] && one.vote([2, 2, 3])?.lines == NearestLines(serious: 0, of: 1))
        #expect(one.vote([4]) == nil)  // feature 4 is in no line
        #expect(one.vote([]) == nil)

        let three = NeighbourIndex(memory: memory, features: 5, severities: 3, seriousLabel: 2, count: 3, sharpness: 3)
        let (vote, lines) = try #require(three.vote([0, 1]))
        #expect(lines == NearestLines(serious: 1, of: 3))
        // Lines 0 and 3 (cosine 1) vote serious and minor alike; line 2 shares one feature, fainter.
        #expect(abs(vote[2] - vote[0]) < 1e-6 && vote[1] > 0 && vote[1] < vote[2] / 2, "\(vote)")
        #expect(abs(vote.reduce(0, +) - 1) < 1e-9)
    }

    @Test("a near twin of a serious line is more likely serious with the memory than with the network alone")
    func pullsTowardTheNearestLines() throws {
        let withMemory = TextModelScorer(model: TextModelTrainer(parameters: Self.parameters).train(examples: Self.examples))
        let network = TextModelScorer(model: TextModelTrainer(parameters: Self.networkOnly).train(examples: Self.examples))
        let serious = try #require(network.severities.firstIndex(of: .serious))
        let text = NormalizedText("got an electric shock from the shower")
        let before = network.posterior(text).severities[serious]
        let after = withMemory.posterior(text).severities[serious]
        #expect(after > before, "P(serious) \(before) → \(after)")
    }

    @Test("when the model calls a complaint serious, the explanation says how many of the nearest training lines were serious")
    func explains() async throws {
        let scorer = TextModelScorer(model: TextModelTrainer(parameters: Self.parameters).train(examples: Self.examples))
        let rules = RuleSet(version: "t", categoryRules: [], severityRules: [], sentiment: .init())
        let engine = ClassificationEngine(rules: rules, plugins: [ModelClassifier(scorer: scorer)], seriousThreshold: 0.3)
        let verdict = try #require(ModelClassifier(scorer: scorer).evaluate(ClassificationRequest(
            complaintID: nil, hotelID: nil, channel: nil, text: "shower tap gave my wife an electric shock",
            normalized: NormalizedText("shower tap gave my wife an electric shock"), language: "en", ruleMatches: RuleMatcher(rules: rules).match(NormalizedText("")))))
        // Its own line is nearest; "shower" is too common to be remembered, so only lines sharing
        // the rarer words count: the Chinese serious line shares none.
        #expect(verdict.nearest?.serious ?? 0 >= 1 && verdict.nearest?.of ?? 0 <= 3, "\(String(describing: verdict.nearest))")
        let result = await engine.classify(ComplaintInput(text: "shower tap gave my wife an electric shock"))
        #expect(result.severity == .serious)
        let nearest = try #require(verdict.nearest)
        #expect(result.explanation.summary?.contains("\(nearest.serious) of the \(nearest.of) most similar training lines serious") == true,
                "\(result.explanation.summary ?? "")")
        // A minor complaint does not get the line.
        let minor = await engine.classify(ComplaintInput(text: "shower is a bit weak in the morning"))
        #expect(minor.severity != .serious && minor.explanation.summary?.contains("most similar") == false)
    }

    @Test("a file whose memory does not match its format or its features is refused with the reason")
    func refusesMismatches() throws {
        let model = TextModelTrainer(parameters: Self.parameters).train(examples: Self.examples)
        var forgetful = model
        forgetful.memory = nil
        var outOfRange = model
        outOfRange.memory?.lines[0].features.append(Int32(model.features.count))
        var wrongSeverity = model
        wrongSeverity.memory?.lines[0].severity = model.severities.count
        for (broken, reason) in [
            (forgetful, "does not match its memory"), (outOfRange, "names a severity or feature"), (wrongSeverity, "names a severity or feature"),
        ] {
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("memory-\(UUID().uuidString).json").path
            defer { try? FileManager.default.removeItem(atPath: file) }
            try Data(broken.serialized().utf8).write(to: URL(fileURLWithPath: file))
            let error = #expect(throws: ModelFileError.self) { try TextModel.load(contentsOf: file) }
            #expect(error?.reason.contains(reason) == true, "\(String(describing: error))")
        }
        // Without neighbours there is no memory, and nothing about it in the file.
        let network = TextModelTrainer(parameters: Self.networkOnly).train(examples: Self.examples)
        #expect(network.format == TextModel.hiddenFormatName && network.memory == nil && !network.serialized().contains("neighbour"))
        #expect(!network.serialized().contains("memory"))
    }
}
