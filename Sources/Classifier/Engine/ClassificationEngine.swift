import ComplaintEvents
import Foundation

/// The whole classification of one complaint: normalise, detect language, match the rules once,
/// ask the configured plugins in order, combine their verdicts, apply the severity rules and
/// guest history, then derive flags, priority, sentiment and the explanation.
///
/// Pure apart from the plugins (the HTTP one does I/O): the handler supplies guest history, so
/// the CLI's `eval` and `bench` run exactly what the service runs.
public struct ClassificationEngine: Sendable {
    public let matcher: RuleMatcher
    public let plugins: [any ClassifierPlugin]
    /// Whether a plugin asks a model outside Redress (the explanation then says whether it answered).
    let hasExternalPlugin: Bool
    public var severityPolicy: SeverityPolicy
    public var combiner = VerdictCombiner()
    /// Below this confidence the complaint is flagged for a person to check.
    public var reviewThreshold: Double
    /// When the plugins give `serious` at least this probability but another severity won, the
    /// complaint is `serious` with `needsHumanReview` (LABELING.md: reading a danger as minor is the
    /// most expensive mistake; reading a moderate complaint as serious costs a quick look).
    public var seriousThreshold: Double
    /// From this share of ``seriousThreshold`` up, serious is still plausible: the complaint is not
    /// `minor`, and a `safety_security` one is `serious`. Chosen with the threshold on the training
    /// lines (services/classifier/README.md, "Cost-aware severity").
    public static let plausibleShare = 0.4

    public init(
        rules: RuleSet, plugins: [any ClassifierPlugin], severityPolicy: SeverityPolicy = .init(), reviewThreshold: Double = 0.45,
        seriousThreshold: Double = ClassifierConfiguration.defaultSeriousThreshold
    ) {
        self.matcher = RuleMatcher(rules: rules)
        self.plugins = plugins
        self.hasExternalPlugin = plugins.contains { $0.isExternal }
        self.severityPolicy = severityPolicy
        self.reviewThreshold = reviewThreshold
        self.seriousThreshold = seriousThreshold
    }

    /// An engine with the thresholds of `configuration`.
    public init(rules: RuleSet, plugins: [any ClassifierPlugin], configuration: ClassifierConfiguration) {
        self.init(
            rules: rules, plugins: plugins, reviewThreshold: configuration.reviewThreshold, seriousThreshold: configuration.seriousThreshold)
    }

    public var rules: RuleSet { matcher.rules }


    /// The version string of explanations: rules and model versions joined, at most 64 characters.
    public var version: String {
        var parts = [rules.version]
        for plugin in plugins {
            if let model = plugin as? ModelClassifier { parts.append(model.scorer.version) }
        }
        return String(parts.joined(separator: "+").prefix(64))
    }

    public func classify(_ input: ComplaintInput, history: GuestHistorySummary = .none) async -> Classification {
        finish(await assess(input), history: history)
    }

    /// The part that may call out (the plugins): run it before opening a database transaction, then
    /// ``finish(_:history:)`` inside it with the guest history.
    public func assess(_ input: ComplaintInput) async -> Assessment {
        let normalized = NormalizedText(input.text)
        let language = LanguageDetector.detect(normalized, hint: input.languageHint.flatMap(LanguageDetector.hint))
        let matches = matcher.match(normalized)
        let request = ClassificationRequest(
            complaintID: input.complaintID, hotelID: input.hotelID, channel: input.channel, text: input.text,
            normalized: normalized, language: language, ruleMatches: matches)
        var verdicts: [(verdict: PluginVerdict, weight: Double)] = []
        var abstentions: [String] = []
        if !normalized.isBlank {
            for plugin in plugins {
                let answer = await plugin.consult(request)
                if let verdict = answer.verdict {
                    verdicts.append((verdict, plugin.weight))
                } else if plugin.isExternal, let why = answer.abstention {
                    abstentions.append(why)
                }
            }
        }
        return Assessment(
            input: input, normalized: normalized, language: language, matches: matches, verdicts: verdicts, externalAbstentions: abstentions)
    }

    /// The plugins' verdicts on one complaint, before severity rules and guest history are applied.
    public struct Assessment: Sendable {
        let input: ComplaintInput
        let normalized: NormalizedText
        let language: String
        let matches: RuleMatcher.Matches
        let verdicts: [(verdict: PluginVerdict, weight: Double)]
        /// Why an external plugin gave no verdict, when it says (``PluginAnswer/abstention``).
        var externalAbstentions: [String] = []
    }

    /// Combines an assessment with the guest's history into the classification (pure, no I/O).
    ///
    /// The serious threshold and the not-minor floor apply to the higher of the built-in plugins'
    /// chance of `serious` and the blend with an external model's (``VerdictCombiner``): an external
    /// model may make a complaint more serious, never switch off the safety net; a rule cue always wins.
    public func finish(_ assessment: Assessment, history: GuestHistorySummary) -> Classification {
        finish(
            input: assessment.input, normalized: assessment.normalized, language: assessment.language, matches: assessment.matches,
            verdicts: assessment.verdicts, externalAbstentions: assessment.externalAbstentions, history: history)
    }

    func finish(
        input: ComplaintInput, normalized: NormalizedText, language: String, matches: RuleMatcher.Matches,
        verdicts: [(verdict: PluginVerdict, weight: Double)], externalAbstentions: [String] = [], history: GuestHistorySummary
    ) -> Classification {
        let combined = combiner.combine(verdicts)
        // Serious stays open from a share of the threshold, or when no plugin judged severity at all.
        let plausibleFrom = seriousThreshold * Self.plausibleShare
        let seriousPlausible = !combined.severityJudged || combined.seriousProbability >= plausibleFrom
        var outcome = severityPolicy.apply(
            predicted: combined.severity, seriousPlausible: seriousPlausible, category: combined.category, matches: matches, rules: rules,
            isVIP: input.isVIP, history: history)
        let unsureSerious = outcome.severity < .serious && !verdicts.isEmpty && combined.seriousProbability >= seriousThreshold
        if unsureSerious {
            let cues = seriousCues(normalized)
            outcome.reasons.append(
                "unsure between serious and \(outcome.severity.rawValue) (serious \(Int((combined.seriousProbability * 100).rounded())) %)"
                    + (cues.isEmpty ? "" : ", cue: " + cues.joined(separator: ", ")))
            if let nearest = Self.nearestSerious(verdicts) { outcome.reasons.append(nearest) }
            outcome.severity = .serious
            outcome.rules.append("unsure_serious")
            outcome.terms += cues
        } else if outcome.severity == .serious && combined.severity == .serious && !severityPolicy.explainsSerious(outcome, matches: matches, rules: rules) {
            // The model's own call: name what it read, as the rules would.
            let cues = seriousCues(normalized)
            outcome.rules.append("model_serious")
            outcome.terms += cues
            if !cues.isEmpty { outcome.reasons.append("cue: " + cues.joined(separator: ", ")) }
            if let nearest = Self.nearestSerious(verdicts) { outcome.reasons.append(nearest) }
        } else if outcome.severity == .minor && !verdicts.isEmpty && combined.seriousProbability >= plausibleFrom {
            // Not sure enough to call it serious, too unsure to call it minor.
            outcome.severity = .moderate
            outcome.rules.append("not_minor_while_serious_plausible")
            outcome.reasons.append("serious \(Int((combined.seriousProbability * 100).rounded())) %: not minor")
        }
        // Most of the text in a script no built-in plugin reads: unless an external model answered for
        // it, nothing rules serious out, so it is serious until a person has read it (the cost-aware rule).
        let unreadScript = normalized.unreadScript
        let unreadAlone = unreadScript != nil && combined.external.isEmpty
        if let unreadScript {
            if !verdicts.isEmpty {
                outcome.reasons.append("most of the text is in a script the built-in model does not read (\(unreadScript.rawValue))")
            }
            if unreadAlone && outcome.severity < .serious {
                outcome.set(.serious, rule: "unread_script", reason: "serious until a person has read it")
            } else if unreadAlone {
                outcome.rules.append("unread_script")
            }
        }
        // An external answer without a confidence is a guess: when no built-in plugin agrees with the
        // category it chose, a person checks it (its 0.5 alone would pass the review threshold).
        let unconfirmedGuess = combined.external.contains { $0.confidenceMissing && Self.topCategory($0) == combined.category }
            && !verdicts.contains { !$0.verdict.isExternal && Self.topCategory($0.verdict) == combined.category }
        if unconfirmedGuess {
            outcome.reasons.append("the external model gave no confidence for \(combined.category.rawValue) and no built-in plugin agrees")
        }
        let confidence = verdicts.isEmpty ? 0 : Self.rounded((combined.categoryProbability * max(combined.severityProbability, 0.5)).squareRoot())
        let sentiment = Self.sentiment(matches, normalized: normalized)
        let flags = ClassificationFlags(
            isVIP: input.isVIP || outcome.mentionsVIP, isRepeat: outcome.isRepeat, involvesSafety: outcome.involvesSafety,
            threatensReview: outcome.threatensReview, needsHumanReview: verdicts.isEmpty || confidence < reviewThreshold || unsureSerious || unreadAlone || unconfirmedGuess)
        let priority = PriorityPolicy.priority(severity: outcome.severity, flags: flags, sentiment: sentiment)

        // Evidence: the rules for the chosen category first, then the severity rules.
        var ruleNames: [String] = []
        var terms: [String] = []
        for (index, matchedTerms) in matches.categoryRules where rules.categoryRules[index].category == combined.category {
            ruleNames.append(rules.categoryRules[index].name)
            terms += matchedTerms
        }
        ruleNames += outcome.rules
        terms += outcome.terms
        for (verdict, _) in verdicts where verdict.plugin != "keyword" {
            ruleNames += verdict.matchedRules
            terms += verdict.matchedTerms
        }
        var summary = if normalized.isBlank {
            "no text to classify; a person should read the complaint"
        } else if let unreadScript, verdicts.isEmpty {
            "text in a script the built-in model does not read (\(unreadScript.rawValue))"
        } else {
            "\(combined.category.rawValue) (\(Int((combined.categoryProbability * 100).rounded())) %), \(outcome.severity.rawValue)"
        }
        if !outcome.reasons.isEmpty { summary += ": " + outcome.reasons.joined(separator: ", ") }
        if verdicts.isEmpty && !normalized.isBlank && unreadScript == nil { summary += "; no plugin recognised anything" }
        // Whether the external model took part, and what it said (it may raise severity, never lower it).
        if hasExternalPlugin && !normalized.isBlank {
            let views = combined.external.compactMap(\.externalView)
            // Not asked (its circuit breaker open) is not the same as asked and silent.
            let silent = externalAbstentions.isEmpty ? "external model did not answer" : externalAbstentions.joined(separator: "; ")
            summary += "; " + (views.isEmpty ? silent : views.joined(separator: "; "))
        }
        let explanation = ClassificationExplanation(
            classifier: combined.leadingPlugin ?? "none",
            version: version,
            matchedRules: Array(Self.unique(ruleNames).prefix(32)),
            matchedTerms: Array(Self.unique(terms).prefix(32).map { String($0.unicodeScalars.prefix(64)) }),
            summary: String(summary.unicodeScalars.prefix(500)))
        return Classification(
            category: combined.category, severity: outcome.severity, priority: priority, language: language,
            sentiment: sentiment, flags: flags, confidence: confidence, explanation: explanation)
    }

    /// What in the text leans toward `serious`: the model's strongest n-grams for it, else the
    /// rules' severity terms (an external model gives no evidence).
    func seriousCues(_ normalized: NormalizedText) -> [String] {
        for plugin in plugins {
            if let model = plugin as? ModelClassifier { return model.scorer.cues(toward: .serious, in: normalized) }
        }
        return []
    }

    /// "7 of the 10 most similar training lines serious", when the model remembers its lines.
    static func nearestSerious(_ verdicts: [(verdict: PluginVerdict, weight: Double)]) -> String? {
        guard let nearest = verdicts.lazy.compactMap(\.verdict.nearest).first else { return nil }
        return "\(nearest.serious) of the \(nearest.of) most similar training lines serious"
    }

    /// −1…1 from the lexicon: negative and (doubly) strong negative words against positive ones,
    /// with exclamation marks as intensity.
    static func sentiment(_ matches: RuleMatcher.Matches, normalized: NormalizedText) -> Double {
        var exclamations = 0
        for scalar in normalized.scalars where scalar == "!" { exclamations += 1 }
        let raw = Double(matches.positive) - Double(matches.negative) - 2 * Double(matches.strongNegative) - 0.5 * Double(min(exclamations, 3))
        return rounded(tanh(raw / 2))
    }

    /// The category a verdict gives the most probability.
    static func topCategory(_ verdict: PluginVerdict) -> ComplaintCategory {
        var best = 0
        for c in verdict.categories.indices where verdict.categories[c] > verdict.categories[best] { best = c }
        return ComplaintCategory.allCases[best]
    }

    static func rounded(_ value: Double) -> Double { (value * 100).rounded() / 100 }

    static func unique(_ values: [String]) -> [String] {
        var seen = Set<String>()
        return values.filter { seen.insert($0).inserted }
    }
}
