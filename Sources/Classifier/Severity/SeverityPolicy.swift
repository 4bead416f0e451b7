import ComplaintEvents

/// The severity rules (services/classifier/README.md, Taxonomy and Cost-aware severity) applied on top of what the plugins predicted: text cues
/// from `rules.yaml` (safety, health, security, legal or review threats raise to `serious`;
/// inconvenience cues cap at `minor`), a security complaint (`serious` while serious is plausible,
/// never `minor`), a VIP with a major failure, and repeat complaints (any earlier one in the stay
/// or the last 30 days makes at least `moderate`; the third of a stay is `serious`).
public struct SeverityPolicy: Sendable {
    /// What the rules decided and why.
    public struct Outcome: Sendable {
        public var severity: Severity
        public var involvesSafety = false
        public var threatensReview = false
        public var isRepeat = false
        /// The text says the guest is a VIP or top-tier member ("platinum member", 钻石会员).
        public var mentionsVIP = false
        /// Names of the rules that changed or confirmed severity, for the explanation.
        public var rules: [String] = []
        public var terms: [String] = []
        public var reasons: [String] = []

        /// Sets the severity and says which rule did and why.
        mutating func set(_ severity: Severity, rule: String, reason: String) {
            self.severity = severity
            rules.append(rule)
            reasons.append(reason)
        }
    }

    /// Whether a `safety_security` complaint is `serious` even without a cue (the taxonomy: safety
    /// is serious) — as long as serious is plausible (see ``apply(predicted:seriousPlausible:category:matches:rules:isVIP:history:)``).
    public var safetyCategoryIsSerious: Bool

    public init(safetyCategoryIsSerious: Bool = true) {
        self.safetyCategoryIsSerious = safetyCategoryIsSerious
    }

    /// `seriousPlausible` says whether the plugins leave `serious` open (the engine: its probability
    /// is at least ``ClassificationEngine/plausibleShare`` of the serious threshold, or no plugin judged severity). A `safety_security`
    /// complaint is then `serious`; when the plugins all but rule it out ("the CCTV camera in the car
    /// park looks a bit crooked"), it is at least `moderate` instead — LABELING.md decides severity
    /// by what happened, not by the department, and a third of its security lines are not serious.
    public func apply(
        predicted: Severity, seriousPlausible: Bool = true, category: ComplaintCategory, matches: RuleMatcher.Matches, rules: RuleSet,
        isVIP: Bool, history: GuestHistorySummary
    ) -> Outcome {
        var outcome = Outcome(severity: predicted)
        var safetyCue = false
        var cap: Severity?
        var raise: Severity?
        for (index, terms) in matches.severityRules {
            let rule = rules.severityRules[index]
            switch rule.effect {
            case .cap: cap = min(cap ?? rule.severity, rule.severity)
            case .raise: raise = max(raise ?? rule.severity, rule.severity)
            }
            if Self.isSafetyCue(rule) { safetyCue = true }
            switch rule.flag {
            case .reviewThreat: outcome.threatensReview = true
            case .vip: outcome.mentionsVIP = true
            case .safety, .legal, nil: break
            }
            outcome.rules.append(rule.name)
            outcome.terms += terms
        }
        // An inconvenience cue ("a bit", 有点) caps only when nothing says the stay was harmed: "a bit
        // noisy, couldn't sleep" is moderate (LABELING.md: softening words do not undo a harm), and
        // never a complaint the plugins read as serious ("not urgent, but the wires are bare").
        let capped = cap != nil && (raise ?? .minor) == .minor && predicted < .serious
        if let cap, capped, outcome.severity > cap {
            outcome.severity = cap
            outcome.reasons.append("inconvenience")
        }
        if let raise, raise > outcome.severity {
            outcome.severity = raise
            outcome.reasons.append("severity cue")
        }
        outcome.involvesSafety = Self.involvesSafety(category: category, safetyCue: safetyCue)
        if category == .safetySecurity {
            // A hedged safety report ("地面有点滑，能放个防滑垫吗") keeps its capped severity.
            if safetyCategoryIsSerious && outcome.severity < .serious && !capped {
                if seriousPlausible {
                    outcome.set(.serious, rule: "safety_category", reason: "safety or security")
                } else if outcome.severity < .moderate {
                    outcome.set(.moderate, rule: "safety_category_not_minor", reason: "safety or security: not minor")
                }
            }
        }
        if (isVIP || outcome.mentionsVIP) && outcome.severity >= .moderate && outcome.severity < .serious {
            outcome.set(.serious, rule: "vip_major_failure", reason: "VIP with a major failure")
        }
        if history.isRepeat {
            outcome.isRepeat = true
            if history.earlierInStay >= 2 {
                outcome.set(.serious, rule: "repeat_third_in_stay", reason: "complaint \(history.earlierInStay + 1) of this stay")
            } else if outcome.severity < .moderate {
                outcome.set(.moderate, rule: "repeat_complaint", reason: "repeat complaint")
            } else {
                outcome.rules.append("repeat_complaint")
            }
        }
        return outcome
    }
}

extension SeverityPolicy {
    /// The `safety` flag: a `safety_security` complaint, or one where a safety cue matched. Staff
    /// corrections derive it the same way from the category they set and the cues of the verdict they
    /// replace (``safetyCues(in:rules:)``).
    public static func involvesSafety(category: ComplaintCategory, safetyCue: Bool) -> Bool {
        safetyCue || category == .safetySecurity
    }

    /// Whether a severity rule is a safety cue: a match sets the `safety` flag whatever the category.
    public static func isSafetyCue(_ rule: SeverityRule) -> Bool {
        rule.flag == .safety
    }

    /// The safety cues among a verdict's rule names (its explanation's `matchedRules`, where the
    /// engine lists the severity rules that matched): a staff correction reads from them whether the
    /// flag came from the text as well as from the category.
    public static func safetyCues(in ruleNames: [String], rules: RuleSet) -> [String] {
        ruleNames.filter { name in rules.severityRules.contains { $0.name == name && isSafetyCue($0) } }
    }

    /// Whether a rule (a serious cue, the safety category, a VIP, the third complaint) accounts for a
    /// `serious` outcome, so the explanation already names why.
    func explainsSerious(_ outcome: Outcome, matches: RuleMatcher.Matches, rules: RuleSet) -> Bool {
        matches.severityRules.contains { rules.severityRules[$0.rule].severity == .serious && rules.severityRules[$0.rule].effect == .raise }
            || outcome.rules.contains { ["safety_category", "vip_major_failure", "repeat_third_in_stay"].contains($0) }
    }
}

/// Orders severities minor < moderate < serious for the escalation rules.
extension Severity: Comparable {
    private var rank: Int {
        switch self {
        case .minor: 0
        case .moderate: 1
        case .serious: 2
        }
    }

    public static func < (lhs: Severity, rhs: Severity) -> Bool { lhs.rank < rhs.rank }
}
