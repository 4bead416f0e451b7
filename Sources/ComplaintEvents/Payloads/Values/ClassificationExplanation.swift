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
    /// Who set this verdict by hand and why, on a verdict set by staff (`classifier` `staff`); absent on the
    /// classifier's own verdicts and on staff verdicts published before the member existed.
    public var correction: ClassificationCorrection?

    public init(
        classifier: String, version: String, matchedRules: [String], matchedTerms: [String], summary: String? = nil,
        correction: ClassificationCorrection? = nil
    ) {
        self.classifier = classifier
        self.version = version
        self.matchedRules = matchedRules
        self.matchedTerms = matchedTerms
        self.summary = summary
        self.correction = correction
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

/// A staff member's correction of a verdict (`PUT /v1/complaints/{id}/classification`), in members of its
/// own, so that a consumer (intake's timeline) reads who changed the verdict and why without parsing the
/// explanation's summary.
public struct ClassificationCorrection: Codable, Hashable, Sendable {
    /// The staff id of who set the verdict (the name of the API key the request came with).
    public var by: String
    /// Why, as staff gave it (at most 300 characters).
    public var reason: String
    /// The verdict it replaced.
    public var previousCategory: ComplaintCategory
    public var previousSeverity: Severity

    public init(by: String, reason: String, previousCategory: ComplaintCategory, previousSeverity: Severity) {
        self.by = by
        self.reason = reason
        self.previousCategory = previousCategory
        self.previousSeverity = previousSeverity
    }
}

extension ClassificationCorrection: ValidatedObject {
    static let fieldRules = FieldRules([CodingKeys.by: .identifier, .reason: .text(maxLength: 300)])
}
