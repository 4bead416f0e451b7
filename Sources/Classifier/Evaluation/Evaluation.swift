import ComplaintEvents
import Foundation

/// Runs a engine over labeled examples and reports how well it did: what
/// `redress classifier eval` prints.
public struct Evaluation: Sendable {
    public var categories = ConfusionMatrix<ComplaintCategory>(labels: ComplaintCategory.allCases)
    public var severities = ConfusionMatrix<Severity>(labels: Severity.allCases)
    public var needsReview = 0
    /// Severity confusion per language (the example's tag, else the detected one): serious recall is
    /// reported per language because a miss in one is not made up by the other.
    public var severitiesByLanguage: [String: ConfusionMatrix<Severity>] = [:]
    /// Misclassified examples (`actual → predicted`, text), when asked for.
    public var errors: [String] = []

    public init() {}

    /// Classifies each example (no guest history: the data carries none).
    public static func run(_ engine: ClassificationEngine, on examples: [LabeledExample], collectErrors: Bool = false) async -> Evaluation {
        var evaluation = Evaluation()
        for example in examples {
            let result = await engine.classify(ComplaintInput(text: example.text, languageHint: example.language))
            evaluation.categories.add(actual: example.category, predicted: result.category)
            evaluation.severities.add(actual: example.severity, predicted: result.severity)
            evaluation.severitiesByLanguage[example.language ?? result.language, default: ConfusionMatrix(labels: Severity.allCases)]
                .add(actual: example.severity, predicted: result.severity)
            if result.flags.needsHumanReview { evaluation.needsReview += 1 }
            if collectErrors && (result.category != example.category || result.severity != example.severity) {
                let category = result.category == example.category ? "ok" : "\(example.category.rawValue)→\(result.category.rawValue)"
                let severity = result.severity == example.severity ? "ok" : "\(example.severity.rawValue)→\(result.severity.rawValue)"
                evaluation.errors.append("\(category)\t\(severity)\t\(example.text)\t[\(result.explanation.matchedRules.joined(separator: ","))]")
            }
        }
        return evaluation
    }

    /// The printed report.
    public var report: String {
        func f(_ value: Double) -> String { String(format: "%.3f", value) }
        var lines: [String] = []
        lines.append("examples: \(categories.total)")
        lines.append("category accuracy: \(f(categories.accuracy))")
        lines.append("category macro-F1: \(f(categories.macroF1))")
        lines.append("severity accuracy: \(f(severities.accuracy))")
        lines.append("severity macro-F1: \(f(severities.macroF1))")
        lines.append("needs human review: \(needsReview)")
        lines.append("")
        lines.append("serious".padding(toLength: 17, withPad: " ", startingAt: 0) + "   recall  precision  read as minor  support")
        lines.append(Self.seriousLine("all", severities))
        for language in severitiesByLanguage.keys.sorted() {
            lines.append(Self.seriousLine(language, severitiesByLanguage[language]!))
        }
        lines.append("")
        lines.append("category".padding(toLength: 17, withPad: " ", startingAt: 0) + "precision  recall     F1  support")
        for category in ComplaintCategory.allCases {
            let s = categories.scores(of: category)
            lines.append(category.rawValue.padding(toLength: 17, withPad: " ", startingAt: 0)
                + "    \(f(s.precision))   \(f(s.recall))  \(f(s.f1))  \(String(format: "%7d", s.support))")
        }
        lines.append("")
        lines.append("confusion (rows: actual, columns: predicted)")
        let short = ComplaintCategory.allCases.map { String($0.rawValue.prefix(5)) }
        lines.append("".padding(toLength: 17, withPad: " ", startingAt: 0) + short.map { $0.padding(toLength: 6, withPad: " ", startingAt: 0) }.joined())
        for actual in ComplaintCategory.allCases {
            let row = ComplaintCategory.allCases.map { String(format: "%-6d", categories.count(actual: actual, predicted: $0)) }.joined()
            lines.append(actual.rawValue.padding(toLength: 17, withPad: " ", startingAt: 0) + row)
        }
        lines.append("")
        lines.append("severity confusion (rows: actual, columns: predicted)")
        lines.append("".padding(toLength: 17, withPad: " ", startingAt: 0) + Severity.allCases.map { $0.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0) }.joined())
        for actual in Severity.allCases {
            let row = Severity.allCases.map { String(format: "%-9d", severities.count(actual: actual, predicted: $0)) }.joined()
            lines.append(actual.rawValue.padding(toLength: 17, withPad: " ", startingAt: 0) + row)
        }
        return lines.joined(separator: "\n")
    }
}

extension Evaluation {
    /// Serious recall and precision and how many serious complaints were read as minor (the
    /// mistake LABELING.md calls the most expensive).
    public static func seriousFigures(_ matrix: ConfusionMatrix<Severity>) -> (recall: Double, precision: Double, readAsMinor: Int, support: Int) {
        let scores = matrix.scores(of: .serious)
        return (scores.recall, scores.precision, matrix.count(actual: .serious, predicted: .minor), scores.support)
    }

    static func seriousLine(_ name: String, _ matrix: ConfusionMatrix<Severity>) -> String {
        let figures = seriousFigures(matrix)
        return name.padding(toLength: 17, withPad: " ", startingAt: 0)
            + String(format: "    %.3f      %.3f  %13d  %7d", figures.recall, figures.precision, figures.readAsMinor, figures.support)
    }

    /// Adds another evaluation's counts (cross-validation folds).
    public mutating func merge(_ other: Evaluation) {
        categories.merge(other.categories)
        severities.merge(other.severities)
        needsReview += other.needsReview
        for (language, matrix) in other.severitiesByLanguage {
            severitiesByLanguage[language, default: ConfusionMatrix(labels: Severity.allCases)].merge(matrix)
        }
        errors += other.errors
    }
}
