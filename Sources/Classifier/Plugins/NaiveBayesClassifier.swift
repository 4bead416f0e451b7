import ComplaintEvents

/// Category and severity from the trained naive Bayes model (`model.json`).
public struct NaiveBayesClassifier: ClassifierPlugin {
    public let name = "naive_bayes"
    public var weight: Double
    public let scorer: NaiveBayesScorer
    /// Softens the model's overconfident posteriors (see ``NaiveBayesScorer/posterior(_:temperature:)``).
    public var temperature: Double

    public init(scorer: NaiveBayesScorer, weight: Double = 1, temperature: Double = 4) {
        self.scorer = scorer
        self.weight = weight
        self.temperature = temperature
    }

    public func classify(_ request: ClassificationRequest) async -> PluginVerdict? {
        evaluate(request)
    }

    public func evaluate(_ request: ClassificationRequest) -> PluginVerdict? {
        let posterior = scorer.posterior(request.normalized, temperature: temperature)
        if posterior.knownFeatures == 0 { return nil }
        var categories = [Double](repeating: 0, count: ComplaintCategory.allCases.count)
        for (position, category) in scorer.categories.enumerated() {
            categories[ComplaintCategory.ordinal[category]!] = posterior.categories[position]
        }
        var severities = [Double](repeating: 0, count: Severity.allCases.count)
        for (position, severity) in scorer.severities.enumerated() {
            severities[Severity.ordinal[severity]!] = posterior.severities[position]
        }
        return PluginVerdict(plugin: name, version: scorer.version, categories: categories, severities: severities)
    }
}
