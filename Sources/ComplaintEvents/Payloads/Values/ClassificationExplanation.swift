/// Why the classifier decided as it did, so staff can trust or correct it.
public struct ClassificationExplanation: Codable, Hashable, Sendable {
    /// The classifier plugin, e.g. `keyword`.
    public var classifier: String
    /// The rule-set or model version, e.g. `rules-2025.03`.
    public var version: String
    /// Names of the rules that fired.
    public var matchedRules: [String]
    /// Words or phrases of the complaint that matched, in its language (e.g. `空调`, `not cooling`).
    public var matchedTerms: [String]
    public var summary: String?

    public init(classifier: String, version: String, matchedRules: [String], matchedTerms: [String], summary: String? = nil) {
        self.classifier = classifier
        self.version = version
        self.matchedRules = matchedRules
        self.matchedTerms = matchedTerms
        self.summary = summary
    }
}

extension ClassificationExplanation: ValidatedObject {
    static let fieldRules = FieldRules([
        CodingKeys.classifier: .code,
        .version: .text(maxLength: 64, .reference(maxLength: 64)),
        .matchedRules: .list(count: 0...32, element: .code),
        .matchedTerms: .list(count: 0...32, element: .text(maxLength: 64)),
        .summary: .text(maxLength: 500),
    ])
}
