import ComplaintEvents

/// A ``RuleSet`` compiled into one ``TermMatcher``: one pass over a complaint finds every
/// category phrase, severity cue and sentiment word at once.
public struct RuleMatcher: Sendable {
    /// What a rule term belongs to.
    enum Owner: Sendable, Hashable {
        case category(Int)
        case severity(Int)
        case negative
        case strongNegative
        case positive
    }

    /// What one complaint matched.
    public struct Matches: Sendable {
        /// Indices into ``RuleSet/categoryRules`` with the distinct terms each matched.
        public var categoryRules: [(rule: Int, terms: [String])] = []
        /// Indices into ``RuleSet/severityRules`` with the distinct terms each matched.
        public var severityRules: [(rule: Int, terms: [String])] = []
        public var negative = 0
        public var strongNegative = 0
        public var positive = 0
    }

    public let rules: RuleSet
    private let matcher: TermMatcher
    private let owners: [[Owner]]

    public init(rules: RuleSet) {
        self.rules = rules
        var spellings: [String] = []
        var owners: [[Owner]] = []
        var index: [String: Int] = [:]
        func add(_ term: String, _ owner: Owner) {
            if let existing = index[term] {
                if !owners[existing].contains(owner) { owners[existing].append(owner) }
            } else {
                index[term] = spellings.count
                spellings.append(term)
                owners.append([owner])
            }
        }
        for (ruleIndex, rule) in rules.categoryRules.enumerated() {
            for term in rule.terms { add(term, .category(ruleIndex)) }
        }
        for (ruleIndex, rule) in rules.severityRules.enumerated() {
            for term in rule.terms { add(term, .severity(ruleIndex)) }
        }
        for term in rules.sentiment.negative { add(term, .negative) }
        for term in rules.sentiment.strongNegative { add(term, .strongNegative) }
        for term in rules.sentiment.positive { add(term, .positive) }
        // The loader rejects terms that fold to nothing, so this cannot fail for a loaded rule set.
        self.matcher = (try? TermMatcher(terms: spellings)) ?? (try! TermMatcher(terms: []))
        self.owners = owners
    }

    /// Everything `text` matches, each rule once, in rule-file order.
    public func match(_ text: NormalizedText) -> Matches {
        var hitTerms: [Int] = []
        matcher.forEachMatch(in: text.scalars) { hitTerms.append($0) }
        var matches = Matches()
        if hitTerms.isEmpty { return matches }
        hitTerms.sort()
        var categoryTerms: [Int: [String]] = [:]
        var severityTerms: [Int: [String]] = [:]
        var previous = -1
        for term in hitTerms where term != previous {
            previous = term
            let spelling = matcher.terms[term].text
            for owner in owners[term] {
                switch owner {
                case .category(let rule): categoryTerms[rule, default: []].append(spelling)
                case .severity(let rule): severityTerms[rule, default: []].append(spelling)
                case .negative: matches.negative += 1
                case .strongNegative: matches.strongNegative += 1
                case .positive: matches.positive += 1
                }
            }
        }
        matches.categoryRules = categoryTerms.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        matches.severityRules = severityTerms.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        return matches
    }
}
