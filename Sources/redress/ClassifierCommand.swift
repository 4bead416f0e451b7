import ArgumentParser
import Classifier
import ComplaintPipeline
import Foundation
import Logging

/// `redress classifier …`: train the statistical model, evaluate the engine, measure its speed.
struct ClassifierCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classifier",
        abstract: "Train, evaluate and benchmark the complaint classifier.",
        subcommands: [Train.self, Eval.self, Bench.self]
    )

    /// The engine's settings: the service's own (`ClassifierConfiguration.load()`: `CLASSIFIER_*`
    /// variables, then the service's configuration file, then the defaults), so `eval` and `bench` run
    /// exactly what the service runs; an option given here overrides its setting. The external model
    /// (`http`) is always left out.
    struct EngineOptions: ParsableArguments {
        @Option(help: "Rules file (default: CLASSIFIER_RULES_FILE, else \(ClassifierConfiguration.defaultRulesPath)).")
        var rules: String?
        @Option(help: "Model file (default: CLASSIFIER_MODEL_FILE, else \(ClassifierConfiguration.defaultModelPath)).")
        var model: String?
        @Option(help: "Comma-separated plugins in order (default: CLASSIFIER_PLUGINS, else keyword,logistic; http is left out).")
        var plugins: String?
        @Option(help: "Weight of the rules' vote (default: \(ClassifierConfiguration().keywordWeight)).")
        var keywordWeight: Double?
        @Option(help: "Weight of the model's vote (default: \(ClassifierConfiguration().modelWeight)).")
        var modelWeight: Double?
        @Option(help: "Probability of serious from which an unsure complaint is serious, for review (default: CLASSIFIER_SERIOUS_THRESHOLD, else \(ClassifierConfiguration.defaultSeriousThreshold); 1 turns it off).")
        var seriousThreshold: Double?

        func configuration() async throws -> ClassifierConfiguration {
            var configuration = try await ClassifierConfiguration.load()
            if let rules { configuration.rulesFile = rules }
            if let model { configuration.modelFile = model }
            if let keywordWeight { configuration.keywordWeight = keywordWeight }
            if let modelWeight { configuration.modelWeight = modelWeight }
            if let seriousThreshold { configuration.seriousThreshold = seriousThreshold }
            if let plugins { configuration.plugins = try ClassifierConfiguration.pluginList(plugins, variable: "--plugins") }
            configuration.plugins.removeAll { $0 == "http" }
            return configuration
        }

        /// What the engine runs with, printed before the figures.
        static func describe(_ configuration: ClassifierConfiguration) -> String {
            "engine \(configuration.plugins.joined(separator: "+")), keyword weight \(configuration.keywordWeight), model weight \(configuration.modelWeight), "
                + "serious threshold \(configuration.seriousThreshold), review threshold \(configuration.reviewThreshold)"
        }

        func engine() async throws -> ClassificationEngine {
            try ClassifierService.makeEngine(configuration: try await configuration(), logger: Logger(label: "redress.classifier"))
        }
    }

    /// The trainer's parameters (defaults: what the shipped model uses).
    struct TrainingOptions: ParsableArguments {
        @Option(help: "Passes of gradient descent.")
        var epochs: Int = TextModel.Parameters().epochs
        @Option(help: "Initial step size.")
        var learningRate: Double = TextModel.Parameters().learningRate
        @Option(help: "L2 penalty.")
        var l2: Double = TextModel.Parameters().l2
        @Option(help: "Drop n-grams seen in fewer documents.")
        var minimumCount: Int = TextModel.Parameters().minimumCount
        @Option(help: "Weight of a serious line in the severity head's loss.")
        var seriousWeight: Double = TextModel.Parameters().seriousWeight
        @Option(help: "Hidden units of the severity head (0: a logistic regression).")
        var hiddenUnits: Int = TextModel.Parameters().hiddenUnits
        @Option(help: "Passes over the data when fitting the hidden layer.")
        var hiddenEpochs: Int = TextModel.Parameters().hiddenEpochs
        @Option(help: "Most similar training lines that vote on severity (0: no memory of training lines).")
        var neighbours: Int = TextModel.Parameters().neighbours
        @Option(help: "The neighbours' share of the severity distribution.")
        var neighbourShare: Double = TextModel.Parameters().neighbourShare
        @Option(help: "Power a neighbour's similarity is raised to before it votes.")
        var neighbourSharpness: Double = TextModel.Parameters().neighbourSharpness
        @Option(help: "Features in more training lines than this are not remembered.")
        var neighbourFeatureLimit: Int = TextModel.Parameters().neighbourFeatureLimit

        var parameters: TextModel.Parameters {
            .init(
                epochs: epochs, learningRate: learningRate, l2: l2, minimumCount: minimumCount, seriousWeight: seriousWeight,
                hiddenUnits: hiddenUnits, hiddenEpochs: hiddenEpochs, neighbours: neighbours, neighbourShare: neighbourShare,
                neighbourSharpness: neighbourSharpness, neighbourFeatureLimit: neighbourFeatureLimit)
        }
    }

    static let defaultTrainingFiles = ["services/classifier/data/train-en.jsonl", "services/classifier/data/train-zh.jsonl"]

    struct Train: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Train the model (logistic regression, optionally a hidden layer for severity) from labeled JSONL files and write the model file.")

        @Option(name: .customLong("data"), help: "A training file (repeatable; default: the repository's train-*.jsonl).")
        var data: [String] = []
        @Option(help: "Where to write the model (default: \(ClassifierConfiguration.defaultModelPath)).")
        var output: String?
        @OptionGroup var trainerOptions: TrainingOptions

        func run() async throws {
            let files = data.isEmpty ? ClassifierCommand.defaultTrainingFiles.map { ServiceFiles.locate($0) } : data
            let trainer = TextModelTrainer(parameters: trainerOptions.parameters)
            let model = try trainer.train(files: files)
            let path = output ?? ServiceFiles.locate(ClassifierConfiguration.defaultModelPath)
            try FileManager.default.createDirectory(
                at: URL(fileURLWithPath: path).deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(model.serialized().utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
            let examples = model.sources.reduce(0) { $0 + $1.examples }
            print("trained \(model.version) on \(examples) examples (\(model.features.count) features) → \(path)")
        }
    }

    struct Eval: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Evaluate the engine on labeled JSONL ({\"text\",\"category\",\"severity\"}).",
            discussion: "With --folds K the files are treated as training data: K-fold cross-validation retrains the model on each fold's complement (for tuning without touching held-out data).")

        @Option(name: .customLong("data"), help: "A labeled file (repeatable).")
        var data: [String]
        @OptionGroup var engineOptions: EngineOptions
        @Option(help: "Cross-validate with this many folds instead of using the model file.")
        var folds: Int?
        @OptionGroup var trainerOptions: TrainingOptions
        @Flag(help: "Print each misclassified example (use with --folds on training data, never to tune on held-out data).")
        var errors = false
        @Option(help: "Train-only validation: 'fit' keeps the 80 % part (use with --folds), 'validation' trains a model on the 80 % part and scores the 20 % part.")
        var split: String?

        func run() async throws {
            var examples: [LabeledExample] = []
            for file in data { examples += try LabeledExample.read(contentsOf: file) }
            guard !examples.isEmpty else { throw ValidationError("no examples in \(data.joined(separator: ", "))") }
            var splitModel: TextModelScorer?
            if let split {
                guard let part = ValidationSplit.Part(rawValue: split) else { throw ValidationError("--split is fit or validation") }
                let parts = ValidationSplit.partition(examples)
                switch part {
                case .fit: examples = parts.fit
                case .validation:
                    guard folds == nil else { throw ValidationError("--split validation trains on the fit part; drop --folds") }
                    guard !errors else { throw ValidationError("--errors is for the fit part only") }
                    splitModel = TextModelScorer(model: TextModelTrainer(parameters: trainerOptions.parameters).train(examples: parts.fit))
                    examples = parts.validation
                }
            }
            let evaluation: Evaluation
            let configuration = try await engineOptions.configuration()
            print(EngineOptions.describe(configuration))
            if let splitModel {
                let rules = try RuleSetLoader.load(contentsOf: configuration.rulesFile)
                let plugins = try PluginRegistry.standard.makePlugins(
                    configuration.plugins,
                    resources: .init(rules: rules, model: splitModel, configuration: configuration, logger: Logger(label: "redress.classifier")))
                let engine = ClassificationEngine(rules: rules, plugins: plugins, configuration: configuration)
                evaluation = await Evaluation.run(engine, on: examples)
            } else if let folds {
                guard folds >= 2 else { throw ValidationError("--folds needs at least 2") }
                let rules = try RuleSetLoader.load(contentsOf: configuration.rulesFile)
                var combined = Evaluation()
                let assigned = CrossValidationFolds.assign(examples, folds: folds)
                for fold in 0..<folds {
                    let training = examples.indices.filter { assigned[$0] != fold }.map { examples[$0] }
                    let testing = examples.indices.filter { assigned[$0] == fold }.map { examples[$0] }
                    let model = TextModelScorer(model: TextModelTrainer(parameters: trainerOptions.parameters).train(examples: training))
                    let plugins = try PluginRegistry.standard.makePlugins(
                        configuration.plugins,
                        resources: .init(rules: rules, model: model, configuration: configuration, logger: Logger(label: "redress.classifier")))
                    let engine = ClassificationEngine(rules: rules, plugins: plugins, configuration: configuration)
                    combined.merge(await Evaluation.run(engine, on: testing, collectErrors: errors))
                }
                evaluation = combined
            } else {
                let engine = try ClassifierService.makeEngine(configuration: configuration, logger: Logger(label: "redress.classifier"))
                evaluation = await Evaluation.run(engine, on: examples, collectErrors: errors)
            }
            print(evaluation.report)
            if errors {
                print("")
                for line in evaluation.errors { print(line) }
            }
        }
    }

    struct Bench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure classifications per second of the built-in engine on one core.")

        @Option(name: .customLong("data"), help: "Texts to classify (repeatable; default: the repository's labeled files).")
        var data: [String] = []
        @Option(help: "How many classifications to time.")
        var count: Int = 200_000
        @OptionGroup var engineOptions: EngineOptions

        func run() async throws {
            let configuration = try await engineOptions.configuration()
            print(EngineOptions.describe(configuration))
            let engine = try ClassifierService.makeEngine(configuration: configuration, logger: Logger(label: "redress.classifier"))
            let files = data.isEmpty
                ? ["train-en", "train-zh", "eval-en", "eval-zh"].map { ServiceFiles.locate("services/classifier/data/\($0).jsonl") }
                : data
            var inputs: [ComplaintInput] = []
            for file in files where FileManager.default.fileExists(atPath: file) {
                inputs += try LabeledExample.read(contentsOf: file).map { ComplaintInput(text: $0.text) }
            }
            if inputs.isEmpty { inputs = [ComplaintInput(text: "空调不制冷，房间很热"), ComplaintInput(text: "The Wi-Fi keeps dropping in room 1204")] }
            // Warm up, then time `count` classifications on this one task (one core).
            var checksum = 0
            for input in inputs { checksum &+= await engine.classify(input).priority }
            let clock = ContinuousClock()
            let start = clock.now
            for index in 0..<count {
                checksum &+= await engine.classify(inputs[index % inputs.count]).priority
            }
            let elapsed = clock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let averageLength = inputs.reduce(0) { $0 + $1.text.unicodeScalars.count } / inputs.count
            print("classified \(count) complaints (\(inputs.count) distinct, ~\(averageLength) characters) in \(String(format: "%.2f", seconds)) s")
            print("\(Int(Double(count) / seconds)) classifications/s on one core (engine \(configuration.plugins.joined(separator: "+")), checksum \(checksum))")
        }
    }
}
