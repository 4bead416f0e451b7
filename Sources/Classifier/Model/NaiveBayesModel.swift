import ComplaintEvents
import Foundation

/// The trained statistical model as stored in `services/classifier/model/model.json`: raw
/// document counts per n-gram and class, for category and severity, plus how it was trained.
///
/// Counts rather than probabilities keep the file exact (integers need no float formatting), so
/// retraining from the same data reproduces it byte for byte; ``NaiveBayesScorer`` turns them
/// into smoothed log-probabilities at load. ``version`` is derived from a SHA-256 of the training
/// data and the trainer parameters.
public struct NaiveBayesModel: Codable, Sendable, Hashable {
    public static let formatName = "redress-naive-bayes/1"

    /// How the trainer was set up; part of the version hash.
    public struct Parameters: Codable, Sendable, Hashable {
        /// Additive (Lidstone) smoothing.
        public var alpha: Double
        /// Features seen in fewer training documents are dropped.
        public var minimumCount: Int
        /// Describes the features (see ``FeatureExtractor``); changes when they change.
        public var features: String

        public init(alpha: Double = 0.3, minimumCount: Int = 2, features: String = FeatureExtractor.description) {
            self.alpha = alpha
            self.minimumCount = minimumCount
            self.features = features
        }
    }

    /// A training file, by name and content hash.
    public struct Source: Codable, Sendable, Hashable {
        public var file: String
        public var sha256: String
        public var examples: Int
    }

    /// One n-gram with its document counts per category (in ``categories`` order) and per severity.
    public struct Feature: Codable, Sendable, Hashable {
        public var gram: String
        public var categoryCounts: [Int]
        public var severityCounts: [Int]

        enum CodingKeys: String, CodingKey {
            case gram = "g", categoryCounts = "c", severityCounts = "s"
        }
    }

    public var format: String
    public var version: String
    public var parameters: Parameters
    public var sources: [Source]
    public var categories: [ComplaintCategory]
    public var severities: [Severity]
    public var categoryDocuments: [Int]
    public var severityDocuments: [Int]
    public var features: [Feature]

    /// Reads a model file.
    public static func load(contentsOf path: String) throws -> NaiveBayesModel {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let model = try JSONDecoder().decode(NaiveBayesModel.self, from: data)
        guard model.format == formatName else {
            throw ModelFileError(file: path, reason: "format '\(model.format)' is not \(formatName)")
        }
        guard model.categoryDocuments.count == model.categories.count, model.severityDocuments.count == model.severities.count,
              model.features.allSatisfy({ $0.categoryCounts.count == model.categories.count && $0.severityCounts.count == model.severities.count })
        else {
            throw ModelFileError(file: path, reason: "count arrays do not match the class lists")
        }
        return model
    }

    /// The canonical file text: fixed key order, one feature per line, integers only (but `alpha`).
    public func serialized() -> String {
        func quote(_ string: String) -> String {
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
                        out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
                    } else {
                        out.unicodeScalars.append(scalar)
                    }
                }
            }
            return out + "\""
        }
        func ints(_ values: [Int]) -> String { "[" + values.map(String.init).joined(separator: ",") + "]" }
        var text = "{\n"
        text += "  \"format\": \(quote(format)),\n"
        text += "  \"version\": \(quote(version)),\n"
        text += "  \"parameters\": {\"alpha\": \(Self.decimal(parameters.alpha)), \"minimumCount\": \(parameters.minimumCount), \"features\": \(quote(parameters.features))},\n"
        text += "  \"sources\": [\n"
        text += sources.map { "    {\"file\": \(quote($0.file)), \"sha256\": \(quote($0.sha256)), \"examples\": \($0.examples)}" }.joined(separator: ",\n")
        text += "\n  ],\n"
        text += "  \"categories\": [" + categories.map { quote($0.rawValue) }.joined(separator: ", ") + "],\n"
        text += "  \"severities\": [" + severities.map { quote($0.rawValue) }.joined(separator: ", ") + "],\n"
        text += "  \"categoryDocuments\": \(ints(categoryDocuments)),\n"
        text += "  \"severityDocuments\": \(ints(severityDocuments)),\n"
        text += "  \"features\": [\n"
        text += features.map { "    {\"g\": \(quote($0.gram)), \"c\": \(ints($0.categoryCounts)), \"s\": \(ints($0.severityCounts))}" }
            .joined(separator: ",\n")
        text += "\n  ]\n}\n"
        return text
    }

    /// A stable decimal spelling (up to 6 places, no exponent, trailing zeros trimmed).
    static func decimal(_ value: Double) -> String {
        let scaled = (value * 1_000_000).rounded()
        let negative = scaled < 0
        let magnitude = Int64(abs(scaled))
        var fraction = String(magnitude % 1_000_000)
        fraction = String(repeating: "0", count: 6 - fraction.count) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return (negative ? "-" : "") + String(magnitude / 1_000_000) + (fraction.isEmpty ? ".0" : "." + fraction)
    }
}

/// A model file that decodes but cannot be used.
public struct ModelFileError: Error, CustomStringConvertible {
    public var file: String
    public var reason: String
    public var description: String { "\(file): \(reason)" }
}
