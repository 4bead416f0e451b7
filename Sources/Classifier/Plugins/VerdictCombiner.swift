import ComplaintEvents

/// Blends the verdicts of the plugins that answered: a weighted average of their distributions.
/// With the default weights the rules and the model count equally, and an external model that
/// answers (weight 3) outvotes both; when it is silent nothing changes.
///
/// An external model may raise severity, never lower it: ``Combined/seriousProbability`` is the higher
/// of the blended chance and the built-in plugins' own, so an external "minor" cannot switch off the
/// engine's serious threshold and not-minor floor.
public struct VerdictCombiner: Sendable {
    /// The plugins' blended answer: the winning category and severity with their probabilities.
    public struct Combined: Sendable {
        public var category: ComplaintCategory
        public var categoryProbability: Double
        public var severity: Severity
        public var severityProbability: Double
        /// The blended probability of `serious`, whichever severity won: the engine says `serious`
        /// when it is high enough even if another severity is likelier (a missed serious complaint
        /// costs far more than a quick look at a moderate one). The higher of the blended chance and
        /// the built-in plugins' (``builtInSeriousProbability``): an external model only raises it.
        public var seriousProbability: Double = 0
        /// The built-in (not external) plugins' chance of `serious` alone; 0 when none judged severity.
        public var builtInSeriousProbability: Double = 0
        /// The external plugins' verdicts that answered (the explanation names their view).
        public var external: [PluginVerdict] = []
        /// Whether any plugin judged severity at all (the rules alone only name a category).
        public var severityJudged = false
        /// The plugin that put the most weight on the chosen category.
        public var leadingPlugin: String?
    }

    public init() {}

    public func combine(_ verdicts: [(verdict: PluginVerdict, weight: Double)]) -> Combined {
        let categoryCount = ComplaintCategory.allCases.count
        var categories = [Double](repeating: 0, count: categoryCount)
        var severities = [Double](repeating: 0, count: Severity.allCases.count)
        var categoryWeight = 0.0
        var severityWeight = 0.0
        let seriousIndex = Severity.ordinal[.serious]!
        var builtInSerious = 0.0
        var builtInSeverityWeight = 0.0
        var external: [PluginVerdict] = []
        for (verdict, weight) in verdicts {
            for c in 0..<categoryCount { categories[c] += weight * verdict.categories[c] }
            categoryWeight += weight
            if verdict.isExternal { external.append(verdict) }
            if let distribution = verdict.severities {
                for s in severities.indices { severities[s] += weight * distribution[s] }
                severityWeight += weight
                if !verdict.isExternal {
                    builtInSerious += weight * distribution[seriousIndex]
                    builtInSeverityWeight += weight
                }
            }
        }
        guard categoryWeight > 0 else {
            return Combined(category: .other, categoryProbability: 0, severity: .moderate, severityProbability: 0, leadingPlugin: nil)
        }
        var best = ComplaintCategory.ordinal[.other]!
        for c in 0..<categoryCount where categories[c] > categories[best] { best = c }
        var severity = Severity.moderate
        var severityProbability = 0.0
        var seriousProbability = 0.0
        let builtInSeriousProbability = builtInSeverityWeight > 0 ? builtInSerious / builtInSeverityWeight : 0
        if severityWeight > 0 {
            seriousProbability = max(severities[seriousIndex] / severityWeight, builtInSeriousProbability)
            var bestSeverity = Severity.ordinal[.moderate]!
            for s in severities.indices where severities[s] > severities[bestSeverity] { bestSeverity = s }
            severity = Severity.allCases[bestSeverity]
            severityProbability = severities[bestSeverity] / severityWeight
        }
        var leading: String?
        var leadingShare = -1.0
        for (verdict, weight) in verdicts where weight * verdict.categories[best] > leadingShare {
            leadingShare = weight * verdict.categories[best]
            leading = verdict.plugin
        }
        return Combined(
            category: ComplaintCategory.allCases[best], categoryProbability: categories[best] / categoryWeight,
            severity: severity, severityProbability: severityProbability, seriousProbability: seriousProbability,
            builtInSeriousProbability: builtInSeriousProbability, external: external, severityJudged: severityWeight > 0, leadingPlugin: leading)
    }
}
