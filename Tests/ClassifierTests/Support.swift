import Classifier
import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import RdKafkaTestKit
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

/// A classifier stage as the service builds it (its own input, the correction routes), on fresh
/// topics and an isolated schema: the end-to-end, correction and fuzz tests start from it.
struct TestClassifierStage {
    var runtime: StageRuntime
    let service: RedressService
    let input: Topic<ComplaintReceived>
    let output: Topic<ComplaintClassified>

    /// One input partition (what the stage publishes then comes out in the order it was caused),
    /// `outputPartitions` for `complaints.classified.v1`.
    init(_ kafka: KafkaTestEnvironment, outputPartitions: Int = 1) async throws {
        input = Topics.received.renamed(try await kafka.makeTopic(prefix: "received", partitions: 1))
        output = Topics.classified.renamed(try await kafka.makeTopic(prefix: "classified", partitions: outputPartitions))
        let database = try await TestDatabase.shared.configuration()
        service = RedressService.classifier.isolated()
        let settings = ServiceSettings.forTests(kafkaBrokers: kafka.bootstrapServers, databaseURL: database.url)
        runtime = StageRuntime(
            service: service, settings: settings,
            inputs: [ClassifierService.input(input, ClassifierHandler(engine: Repository.engine, outputTopic: output))], logger: kafka.logger)
        runtime.deadLetterTopic = try await kafka.makeTopic(prefix: "deadletter", partitions: 1)
        runtime.addRoutes = ClassifierService.correctionRoutes(rules: Repository.engine.rules, outputTopic: output)
    }
}

extension EventFixtures {
    /// The English example complaint with `text` from a guest who is not a VIP (the example's guest
    /// is one, which would make every moderate complaint serious).
    static func received(text: String) throws -> EventEnvelope<ComplaintReceived> {
        var event = try received()
        event.data.text = text
        event.data.guest.isVIP = false
        return event
    }
}
