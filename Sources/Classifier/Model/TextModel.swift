import ComplaintEvents
import Foundation

/// The trained statistical model as stored in `services/classifier/model/model.json`: two heads
/// over the n-grams of ``FeatureExtractor`` (category and severity), plus how it was trained.
/// The category head is a multinomial logistic regression; the severity head is one too, or —
/// when ``Parameters/hiddenUnits`` is above 0 — a small network with one layer of rectified
/// hidden units, which ranks serious complaints better (format `redress-logistic/2`).
///
/// Weights are rounded to ``Parameters/decimals`` places when trained, so the file spells them
/// exactly and the model scored in memory (cross-validation) is the model read back from the
/// file. Retraining from the same data reproduces the file byte for byte; ``version`` is derived
/// from a SHA-256 of the training data and the trainer parameters.
public struct TextModel: Codable, Sendable, Hashable {
    public static let formatName = "redress-logistic/1"
    /// The format of a model whose severity head has a hidden layer.
    public static let hiddenFormatName = "redress-logistic/2"
    /// The format of a model that also remembers its training lines (``NeighbourMemory``).
    public static let memoryFormatName = "redress-logistic/3"

    /// How the trainer was set up; part of the version hash.
    public struct Parameters: Codable, Sendable, Hashable {
        /// Passes of stochastic gradient descent over the training data.
        public var epochs: Int
        /// Initial step size (decays as `learningRate / (1 + 0.05 · epoch)`).
        public var learningRate: Double
        /// L2 penalty applied to the weights a step touches.
        public var l2: Double
        /// Seed of the example order (a 64-bit LCG shuffles every epoch).
        public var seed: Int
        /// Features seen in fewer training documents are dropped.
        public var minimumCount: Int
        /// Decimal places the weights are rounded to.
        public var decimals: Int
        /// Describes the features (see ``FeatureExtractor``); changes when they change.
        public var features: String
        /// How much more a `serious` training line weighs in the severity head's loss than any
        /// other: missing a danger costs more than a duty manager's look at a moderate complaint.
        /// 1 is the plain cross-entropy (and is left out of the file).
        public var seriousWeight: Double
        /// Hidden units of the severity head; 0 keeps it a logistic regression (and is left out
        /// of the file). See ``HiddenLayerTrainer`` for how the layer is fitted.
        public var hiddenUnits: Int
        /// Passes over the training data when fitting the hidden layer (0 without one).
        public var hiddenEpochs: Int
        /// How many of the most similar training lines vote on severity (``NeighbourMemory``);
        /// 0 keeps no memory (and leaves the next three out of the file).
        public var neighbours: Int
        /// The neighbours' share of the severity distribution (the network has the rest).
        public var neighbourShare: Double
        /// The power a neighbour's similarity is raised to before it votes.
        public var neighbourSharpness: Double
        /// Features in more training lines than this are not remembered.
        public var neighbourFeatureLimit: Int

        public init(
            epochs: Int = 30, learningRate: Double = 1, l2: Double = 0.0005, seed: Int = 42, minimumCount: Int = 2, decimals: Int = 4,
            features: String = FeatureExtractor.description, seriousWeight: Double = 1, hiddenUnits: Int = 16, hiddenEpochs: Int = 20,
            neighbours: Int = 10, neighbourShare: Double = 0.3, neighbourSharpness: Double = 3, neighbourFeatureLimit: Int = 300
        ) {
            self.epochs = epochs
            self.learningRate = learningRate
            self.l2 = l2
            self.seed = seed
            self.minimumCount = minimumCount
            self.decimals = decimals
            self.features = features
            self.seriousWeight = seriousWeight
            self.hiddenUnits = hiddenUnits
            // Without a hidden layer there is nothing to fit (and nothing in the file).
            self.hiddenEpochs = hiddenUnits == 0 ? 0 : hiddenEpochs
            self.neighbours = neighbours
            // Without neighbours the rest means nothing (and is not in the file).
            self.neighbourShare = neighbours == 0 ? 0 : neighbourShare
            self.neighbourSharpness = neighbours == 0 ? 0 : neighbourSharpness
            self.neighbourFeatureLimit = neighbours == 0 ? 0 : neighbourFeatureLimit
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            epochs = try container.decode(Int.self, forKey: .epochs)
            learningRate = try container.decode(Double.self, forKey: .learningRate)
            l2 = try container.decode(Double.self, forKey: .l2)
            seed = try container.decode(Int.self, forKey: .seed)
            minimumCount = try container.decode(Int.self, forKey: .minimumCount)
            decimals = try container.decode(Int.self, forKey: .decimals)
            features = try container.decode(String.self, forKey: .features)
            seriousWeight = try container.decodeIfPresent(Double.self, forKey: .seriousWeight) ?? 1
            // Absent from files of a logistic severity head (which predate the hidden layer).
            hiddenUnits = try container.decodeIfPresent(Int.self, forKey: .hiddenUnits) ?? 0
            hiddenEpochs = try container.decodeIfPresent(Int.self, forKey: .hiddenEpochs) ?? 0
            // Absent from files without a neighbour memory (which predate it).
            neighbours = try container.decodeIfPresent(Int.self, forKey: .neighbours) ?? 0
            neighbourShare = try container.decodeIfPresent(Double.self, forKey: .neighbourShare) ?? 0
            neighbourSharpness = try container.decodeIfPresent(Double.self, forKey: .neighbourSharpness) ?? 0
            neighbourFeatureLimit = try container.decodeIfPresent(Int.self, forKey: .neighbourFeatureLimit) ?? 0
        }

        /// The canonical spelling, for the version hash and the file.
        var canonical: String {
            "{\"epochs\": \(epochs), \"learningRate\": \(TextModel.decimal(learningRate)), \"l2\": \(TextModel.decimal(l2)), "
                + "\"seed\": \(seed), \"minimumCount\": \(minimumCount), \"decimals\": \(decimals), "
                + (seriousWeight == 1 ? "" : "\"seriousWeight\": \(TextModel.decimal(seriousWeight)), ")
                + (hiddenUnits == 0 ? "" : "\"hiddenUnits\": \(hiddenUnits), \"hiddenEpochs\": \(hiddenEpochs), ")
                + (neighbours == 0
                    ? ""
                    : "\"neighbours\": \(neighbours), \"neighbourShare\": \(TextModel.decimal(neighbourShare)), "
                        + "\"neighbourSharpness\": \(TextModel.decimal(neighbourSharpness)), \"neighbourFeatureLimit\": \(neighbourFeatureLimit), ")
                + "\"features\": \(TextModel.quote(features))}"
        }
    }

    /// A training file, by name and content hash.
    public struct Source: Codable, Sendable, Hashable {
        public var file: String
        public var sha256: String
        public var examples: Int
    }

    /// One n-gram with its weights per category (in ``categories`` order) and either per severity
    /// (a logistic severity head) or per hidden unit (a severity head with a hidden layer).
    public struct Feature: Codable, Sendable, Hashable {
        public var gram: String
        public var categoryWeights: [Double]
        public var severityWeights: [Double]
        public var hiddenWeights: [Double]

        public init(gram: String, categoryWeights: [Double], severityWeights: [Double] = [], hiddenWeights: [Double] = []) {
            self.gram = gram
            self.categoryWeights = categoryWeights
            self.severityWeights = severityWeights
            self.hiddenWeights = hiddenWeights
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            gram = try container.decode(String.self, forKey: .gram)
            categoryWeights = try container.decode([Double].self, forKey: .categoryWeights)
            severityWeights = try container.decodeIfPresent([Double].self, forKey: .severityWeights) ?? []
            hiddenWeights = try container.decodeIfPresent([Double].self, forKey: .hiddenWeights) ?? []
        }

        enum CodingKeys: String, CodingKey {
            case gram = "g", categoryWeights = "c", severityWeights = "s", hiddenWeights = "h"
        }
    }

    /// The severity head's hidden layer: a bias per unit and, per unit, its weight toward each
    /// severity (`unit * severities.count + severity`); ``severityBias`` is the output bias.
    public struct HiddenLayer: Codable, Sendable, Hashable {
        public var bias: [Double]
        public var output: [Double]
    }

    public var format: String
    public var version: String
    public var parameters: Parameters
    public var sources: [Source]
    public var categories: [ComplaintCategory]
    public var severities: [Severity]
    public var categoryBias: [Double]
    public var severityBias: [Double]
    /// Present when the severity head has a hidden layer (``Parameters/hiddenUnits`` > 0).
    public var hidden: HiddenLayer?
    public var features: [Feature]
    /// Present when ``Parameters/neighbours`` is above 0.
    public var memory: NeighbourMemory?

    /// Reads a model file.
    public static func load(contentsOf path: String) throws -> TextModel {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let model = try JSONDecoder().decode(TextModel.self, from: data)
        guard [formatName, hiddenFormatName, memoryFormatName].contains(model.format) else {
            throw ModelFileError(
                file: path,
                reason: "format '\(model.format)' is none of \(formatName), \(hiddenFormatName), \(memoryFormatName); retrain with `redress classifier train`")
        }
        guard (model.format == memoryFormatName) == (model.memory != nil), (model.memory != nil) == (model.parameters.neighbours > 0) else {
            throw ModelFileError(file: path, reason: "format '\(model.format)' does not match its memory of training lines")
        }
        if let memory = model.memory {
            guard memory.lines.allSatisfy({ line in
                model.severities.indices.contains(line.severity) && line.features.allSatisfy { model.features.indices.contains(Int($0)) }
            }) else {
                throw ModelFileError(file: path, reason: "a remembered line names a severity or feature the model does not have")
            }
        }
        let units = model.hidden?.bias.count ?? 0
        guard model.parameters.hiddenUnits == units, model.format != formatName || model.hidden == nil,
              model.format != hiddenFormatName || model.hidden != nil
        else {
            throw ModelFileError(file: path, reason: "format '\(model.format)' does not match the hidden layer of \(units) units")
        }
        let severityWidth = units == 0 ? model.severities.count : 0
        guard model.categoryBias.count == model.categories.count, model.severityBias.count == model.severities.count,
              (model.hidden?.output.count ?? 0) == units * model.severities.count,
              model.features.allSatisfy({
                  $0.categoryWeights.count == model.categories.count && $0.severityWeights.count == severityWidth && $0.hiddenWeights.count == units
              })
        else {
            throw ModelFileError(file: path, reason: "weight arrays do not match the class lists")
        }
        return model
    }

    /// The canonical file text: fixed key order, one feature per line, fixed decimal spelling.
    public func serialized() -> String {
        let places = parameters.decimals
        func numbers(_ values: [Double]) -> String { "[" + values.map { Self.decimal($0, places: places) }.joined(separator: ",") + "]" }
        var text = "{\n"
        text += "  \"format\": \(Self.quote(format)),\n"
        text += "  \"version\": \(Self.quote(version)),\n"
        text += "  \"parameters\": \(parameters.canonical),\n"
        text += "  \"sources\": [\n"
        text += sources.map { "    {\"file\": \(Self.quote($0.file)), \"sha256\": \(Self.quote($0.sha256)), \"examples\": \($0.examples)}" }
            .joined(separator: ",\n")
        text += "\n  ],\n"
        text += "  \"categories\": [" + categories.map { Self.quote($0.rawValue) }.joined(separator: ", ") + "],\n"
        text += "  \"severities\": [" + severities.map { Self.quote($0.rawValue) }.joined(separator: ", ") + "],\n"
        text += "  \"categoryBias\": \(numbers(categoryBias)),\n"
        text += "  \"severityBias\": \(numbers(severityBias)),\n"
        if let hidden {
            text += "  \"hidden\": {\"bias\": \(numbers(hidden.bias)), \"output\": \(numbers(hidden.output))},\n"
        }
        text += "  \"features\": [\n"
        text += features.map { feature in
            let severity = hidden == nil ? "\"s\": \(numbers(feature.severityWeights))" : "\"h\": \(numbers(feature.hiddenWeights))"
            return "    {\"g\": \(Self.quote(feature.gram)), \"c\": \(numbers(feature.categoryWeights)), \(severity)}"
        }
        .joined(separator: ",\n")
        text += "\n  ]"
        if let memory {
            text += ",\n  \"memory\": {\"lines\": [\n"
            text += memory.lines.map { line in
                "    {\"s\": \(line.severity), \"f\": [" + line.features.map { String($0) }.joined(separator: ",") + "]}"
            }
            .joined(separator: ",\n")
            text += "\n  ]}"
        }
        text += "\n}\n"
        return text
    }

    static func quote(_ string: String) -> String {
        var out = "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    /// Rounds to `places` decimals the way the file spells it (so a value read back is the same `Double`).
    static func rounded(_ value: Double, places: Int) -> Double {
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        let result = (value * scale).rounded() / scale
        return result == 0 ? 0 : result  // no "-0"
    }

    /// A stable decimal spelling (up to `places` places, no exponent, trailing zeros trimmed).
    static func decimal(_ value: Double, places: Int = 6) -> String {
        var scale: Int64 = 1
        for _ in 0..<places { scale *= 10 }
        let scaled = (value * Double(scale)).rounded()
        let negative = scaled < 0
        let magnitude = Int64(abs(scaled))
        var fraction = String(magnitude % scale)
        fraction = String(repeating: "0", count: places - fraction.count) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        if magnitude == 0 { return "0.0" }
        return (negative ? "-" : "") + String(magnitude / scale) + (fraction.isEmpty ? ".0" : "." + fraction)
    }
}

/// A model file that decodes but cannot be used.
public struct ModelFileError: Error, CustomStringConvertible {
    public var file: String
    public var reason: String
    public var description: String { "\(file): \(reason)" }
}
