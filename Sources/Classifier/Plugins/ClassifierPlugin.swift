import ComplaintEvents
import Foundation

/// One way of guessing what a complaint is about: rules, a statistical model, a hotel group's
/// own service. ``ClassificationEngine`` asks each configured plugin in order and combines
/// their verdicts with ``VerdictCombiner``; a plugin that has nothing to say returns `nil`.
public protocol ClassifierPlugin: Sendable {
    /// A code naming the plugin in configuration and explanations (`keyword`, `logistic`, `http`).
    var name: String { get }
    /// How much the plugin's verdict counts against the others'.
    var weight: Double { get }
    func classify(_ request: ClassificationRequest) async -> PluginVerdict?
    /// Whether the plugin asks a model outside Redress (the `http` plugin): its verdict may raise
    /// severity but never lower it (``VerdictCombiner``), and the explanation says whether it took part.
    var isExternal: Bool { get }
    /// ``classify(_:)`` with, when there is no verdict, why (``PluginAnswer``); by default no reason.
    func consult(_ request: ClassificationRequest) async -> PluginAnswer
}

extension ClassifierPlugin {
    public var isExternal: Bool { false }

    public func consult(_ request: ClassificationRequest) async -> PluginAnswer {
        PluginAnswer(verdict: await classify(request))
    }
}

/// A plugin's verdict, or why it has none: the explanation tells an external model skipped (its
/// circuit breaker open) from one asked that did not answer.
public struct PluginAnswer: Sendable {
    public var verdict: PluginVerdict?
    /// Without a verdict, what the explanation says instead of "external model did not answer".
    public var abstention: String?

    public init(verdict: PluginVerdict?, abstention: String? = nil) {
        self.verdict = verdict
        self.abstention = abstention
    }
}

/// A complaint as plugins see it: raw and normalised text plus what the rules matched, computed once.
public struct ClassificationRequest: Sendable {
    public var complaintID: UUID?
    public var hotelID: String?
    public var channel: String?
    public var text: String
    public var normalized: NormalizedText
    /// Detected BCP 47 language (`zh-CN`, `en`).
    public var language: String
    public var ruleMatches: RuleMatcher.Matches

    public init(
        complaintID: UUID?, hotelID: String?, channel: String?, text: String, normalized: NormalizedText, language: String,
        ruleMatches: RuleMatcher.Matches
    ) {
        self.complaintID = complaintID
        self.hotelID = hotelID
        self.channel = channel
        self.text = text
        self.normalized = normalized
        self.language = language
        self.ruleMatches = ruleMatches
    }
}

/// What one plugin thinks: probability distributions over categories (in
/// `ComplaintCategory.allCases` order) and optionally severities (`Severity.allCases` order),
/// with its evidence.
public struct PluginVerdict: Sendable {
    public var plugin: String
    public var version: String
    public var categories: [Double]
    public var severities: [Double]?
    public var matchedRules: [String]
    public var matchedTerms: [String]
    /// From a model that remembers its training lines: how many of the nearest were serious.
    public var nearest: NearestLines?
    /// From a model outside Redress (see ``ClassifierPlugin/isExternal``).
    public var isExternal = false
    /// What an external model answered, for the explanation ("maintenance, minor, confidence 0.9").
    public var externalView: String?
    /// An external answer that gave no confidence (read as ``HTTPClassifier/missingConfidence``): a guess,
    /// so a category it alone chose is for a person to check.
    public var confidenceMissing = false

    public init(
        plugin: String, version: String, categories: [Double], severities: [Double]? = nil, matchedRules: [String] = [], matchedTerms: [String] = [],
        nearest: NearestLines? = nil
    ) {
        self.plugin = plugin
        self.version = version
        self.categories = categories
        self.severities = severities
        self.matchedRules = matchedRules
        self.matchedTerms = matchedTerms
        self.nearest = nearest
    }
}

extension ComplaintCategory {
    /// Position in `allCases`, the index of verdict distributions.
    static let ordinal: [ComplaintCategory: Int] = Dictionary(uniqueKeysWithValues: allCases.enumerated().map { ($1, $0) })
}

extension Severity {
    static let ordinal: [Severity: Int] = Dictionary(uniqueKeysWithValues: allCases.enumerated().map { ($1, $0) })
}
