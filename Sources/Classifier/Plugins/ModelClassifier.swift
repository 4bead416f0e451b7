import ComplaintEvents

/// Category and severity from the trained model (`model.json`): a logistic regression for category
/// and, for severity, one or a network with one hidden layer (see ``TextModel``).
public struct ModelClassifier: ClassifierPlugin {
    public static let pluginName = "logistic"
    public let name = ModelClassifier.pluginName
    public var weight: Double
    public let scorer: TextModelScorer
    /// Divides the model's log-scores before the softmax (1 = as trained).
    public var temperature: Double

    public init(scorer: TextModelScorer, weight: Double = 1, temperature: Double = 1) {
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
        return PluginVerdict(plugin: name, version: scorer.version, categories: categories, severities: severities, nearest: posterior.nearest)
    }
}
