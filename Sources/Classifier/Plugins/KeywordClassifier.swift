import ComplaintEvents

/// Category from the phrases of `rules.yaml`: each matched rule adds its weight per distinct
/// term to its category. Abstains when nothing matched, so the model decides alone.
public struct KeywordClassifier: ClassifierPlugin {
    public let name = "keyword"
    public var weight: Double
    public let rules: RuleSet

    public init(rules: RuleSet, weight: Double = 1) {
        self.rules = rules
        self.weight = weight
    }

    public func classify(_ request: ClassificationRequest) async -> PluginVerdict? {
        evaluate(request)
    }

    /// The synchronous core (the benchmark and tests call it directly).
    public func evaluate(_ request: ClassificationRequest) -> PluginVerdict? {
        let matched = request.ruleMatches.categoryRules
        if matched.isEmpty { return nil }
        var scores = [Double](repeating: 0, count: ComplaintCategory.allCases.count)
        var ruleNames: [String] = []
        var terms: [String] = []
        for (index, matchedTerms) in matched {
            let rule = rules.categoryRules[index]
            scores[ComplaintCategory.ordinal[rule.category]!] += rule.weight * Double(matchedTerms.count)
            ruleNames.append(rule.name)
            terms += matchedTerms
        }
        // Shares of at least one full match: weak hints alone (weights below 1) cast a partial vote,
        // so they tip a close call without outvoting the model.
        let total = max(scores.reduce(0, +), 1)
        return PluginVerdict(
            plugin: name, version: rules.version, categories: scores.map { $0 / total },
            matchedRules: ruleNames, matchedTerms: terms)
    }
}
