import Classifier
import Foundation
import Logging

/// The repository's classifier files, found from this source file (tests run from any directory).
enum Repository {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }
    static let rulesFile = path(ClassifierConfiguration.defaultRulesPath)
    static let modelFile = path(ClassifierConfiguration.defaultModelPath)
    static let trainingFiles = ["train-en", "train-zh"].map { path("services/classifier/data/\($0).jsonl") }

    static func configuration(plugins: [String] = ["keyword", "logistic"]) -> ClassifierConfiguration {
        ClassifierConfiguration(rulesFile: rulesFile, modelFile: modelFile, plugins: plugins)
    }

    /// The shipped built-in engine.
    static let engine: ClassificationEngine = try! ClassifierService.makeEngine(
        configuration: configuration(), logger: Logger(label: "classifier-tests"))
}
