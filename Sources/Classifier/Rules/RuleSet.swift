import ComplaintEvents

/// The hotel-editable rules of `services/classifier/rules.yaml`: phrases that point to a
/// category, phrases that set or cap severity (safety, legal and review threats, mere
/// inconveniences), and the sentiment lexicon. Loaded by ``RuleSetLoader``; matched by
/// ``RuleMatcher``.
public struct RuleSet: Sendable {
    /// Names the rules' revision in every explanation, e.g. `rules-2025.06`.
    public var version: String
    public var categoryRules: [CategoryRule]
    public var severityRules: [SeverityRule]
    public var sentiment: SentimentLexicon

    public init(version: String, categoryRules: [CategoryRule], severityRules: [SeverityRule], sentiment: SentimentLexicon) {
        self.version = version
        self.categoryRules = categoryRules
        self.severityRules = severityRules
        self.sentiment = sentiment
    }
}

/// Phrases that say a complaint is about `category`.
public struct CategoryRule: Sendable, Hashable {
    /// A code (`maintenance_hvac`), shown in explanations.
    public var name: String
    public var category: ComplaintCategory
    /// How much one match counts towards the category (default 1).
    public var weight: Double
    public var terms: [String]

    public init(name: String, category: ComplaintCategory, weight: Double = 1, terms: [String]) {
        self.name = name
        self.category = category
        self.weight = weight
        self.terms = terms
    }
}

/// Phrases that, whatever the category, say how serious a complaint is, and which flag they raise.
public struct SeverityRule: Sendable, Hashable {
    /// What a match does to severity.
    public enum Effect: String, Sendable, Hashable, CaseIterable {
        /// At least this severity (`serious` for a safety, legal or review threat).
        case raise
        /// At most this severity unless something else raises it (an inconvenience is `minor`).
        case cap
    }

    /// A flag of the classified event a match sets.
    public enum Flag: String, Sendable, Hashable, CaseIterable {
        case safety
        case reviewThreat
        case legal
        /// The text says the guest is a VIP or top-tier member: a `moderate` failure becomes `serious`,
        /// exactly as for a guest the reservation marks as VIP.
        case vip
    }

    public var name: String
    public var severity: Severity
    public var effect: Effect
    public var flag: Flag?
    public var terms: [String]

    public init(name: String, severity: Severity, effect: Effect, flag: Flag? = nil, terms: [String]) {
        self.name = name
        self.severity = severity
        self.effect = effect
        self.flag = flag
        self.terms = terms
    }
}

/// Words that make a complaint sound angrier or calmer, for the sentiment score.
public struct SentimentLexicon: Sendable, Hashable {
    public var negative: [String]
    public var strongNegative: [String]
    public var positive: [String]

    public init(negative: [String] = [], strongNegative: [String] = [], positive: [String] = []) {
        self.negative = negative
        self.strongNegative = strongNegative
        self.positive = positive
    }
}
