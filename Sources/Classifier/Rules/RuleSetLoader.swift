import ComplaintEvents
import Foundation
import Yams

/// Reads a ``RuleSet`` from YAML, failing with the file, line and key of the first problem, so a
/// hotel that edits `rules.yaml` learns exactly what to fix.
///
/// ```yaml
/// version: rules-2025.06
/// categories:
///   maintenance:
///     - rule: maintenance_hvac
///       weight: 1.5            # optional, default 1
///       terms: [空调, air conditioning, "a/c"]
/// severity:
///   - rule: safety_injury
///     severity: serious
///     effect: raise            # raise (at least) or cap (at most)
///     flag: safety             # optional: safety, reviewThreat, legal, vip
///     terms: [受伤, injured]
/// sentiment:
///   negative: [差, terrible]
///   strongNegative: [恶心, disgusting]
///   positive: [谢谢, thanks]
/// ```
public enum RuleSetLoader {
    /// A rules file that cannot be used, located as precisely as the YAML parser allows.
    public struct LoadError: Error, CustomStringConvertible, Hashable {
        public var file: String
        public var line: Int?
        public var key: String
        public var reason: String

        public var description: String {
            "\(file)\(line.map { ":\($0)" } ?? ""): \(key.isEmpty ? "" : "\(key): ")\(reason)"
        }
    }

    public static func load(contentsOf path: String) throws(LoadError) -> RuleSet {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw LoadError(file: path, line: nil, key: "", reason: "cannot be read (\(error.localizedDescription))")
        }
        return try parse(text, file: path)
    }

    public static func parse(_ yaml: String, file: String = "rules.yaml") throws(LoadError) -> RuleSet {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: yaml) else {
                throw LoadError(file: file, line: nil, key: "", reason: "is empty")
            }
            root = node
        } catch let error as LoadError {
            throw error
        } catch let error as YamlError {
            throw LoadError(file: file, line: Self.line(of: error), key: "", reason: "is not valid YAML (\(error))")
        } catch {
            throw LoadError(file: file, line: nil, key: "", reason: "is not valid YAML (\(error))")
        }
        return try Reader(file: file).ruleSet(root)
    }

    private static func line(of error: YamlError) -> Int? {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): mark.line
        default: nil
        }
    }

    private struct Reader {
        let file: String

        func fail(_ node: Node?, _ key: String, _ reason: String) -> LoadError {
            LoadError(file: file, line: node?.mark?.line, key: key, reason: reason)
        }

        func mapping(_ node: Node, _ key: String) throws(LoadError) -> Node.Mapping {
            guard let mapping = node.mapping else { throw fail(node, key, "expected a mapping") }
            return mapping
        }

        func sequence(_ node: Node, _ key: String) throws(LoadError) -> Node.Sequence {
            guard let sequence = node.sequence else { throw fail(node, key, "expected a list") }
            return sequence
        }

        func string(_ node: Node?, _ key: String, in parent: Node) throws(LoadError) -> String {
            guard let node else { throw fail(parent, key, "is missing") }
            guard let scalar = node.scalar, !scalar.string.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw fail(node, key, "expected a non-empty string")
            }
            return scalar.string
        }

        func code(_ node: Node?, _ key: String, in parent: Node) throws(LoadError) -> String {
            let value = try string(node, key, in: parent)
            let valid = value.unicodeScalars.count <= 64 && value.unicodeScalars.first.map { ("a"..."z").contains($0) } == true
                && value.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
            guard valid else { throw fail(node, key, "'\(value)' must be a code: lower-case letters, digits and '_', starting with a letter") }
            return value
        }

        func terms(_ node: Node?, _ key: String, in parent: Node) throws(LoadError) -> [String] {
            guard let node else { throw fail(parent, key, "is missing") }
            let list = try sequence(node, key)
            var result: [String] = []
            for (index, element) in list.enumerated() {
                let term = try string(element, "\(key)[\(index)]", in: node)
                let folded = NormalizedText(term.hasSuffix("*") ? String(term.dropLast()) : term).scalars.trimmingSpaces()
                guard !folded.isEmpty else { throw fail(element, "\(key)[\(index)]", "'\(term)' is empty once normalised") }
                result.append(term)
            }
            guard !result.isEmpty else { throw fail(node, key, "needs at least one term") }
            return result
        }

        func checkKeys(_ mapping: Node.Mapping, allowed: Set<String>, _ key: String) throws(LoadError) {
            for (name, _) in mapping {
                guard let text = name.string, allowed.contains(text) else {
                    throw fail(name, key, "unknown key '\(name.string ?? "?")' (expected one of \(allowed.sorted().joined(separator: ", ")))")
                }
            }
        }

        func ruleSet(_ root: Node) throws(LoadError) -> RuleSet {
            let top = try mapping(root, "")
            try checkKeys(top, allowed: ["version", "categories", "severity", "sentiment"], "")
            let version = try string(top["version"], "version", in: root)
            guard version.count <= 32, version.unicodeScalars.allSatisfy({ $0.isASCII && $0 != " " }) else {
                throw fail(top["version"], "version", "must be at most 32 ASCII characters without spaces")
            }
            var names = Set<String>()
            var categoryRules: [CategoryRule] = []
            guard let categoriesNode = top["categories"] else { throw fail(root, "categories", "is missing") }
            for (categoryKey, rulesNode) in try mapping(categoriesNode, "categories") {
                let categoryName = categoryKey.string ?? ""
                guard let category = ComplaintCategory(rawValue: categoryName) else {
                    throw fail(categoryKey, "categories.\(categoryName)", "is not a category (expected one of \(ComplaintCategory.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                for (index, ruleNode) in try sequence(rulesNode, "categories.\(categoryName)").enumerated() {
                    let path = "categories.\(categoryName)[\(index)]"
                    let rule = try mapping(ruleNode, path)
                    try checkKeys(rule, allowed: ["rule", "weight", "terms"], path)
                    let name = try code(rule["rule"], "\(path).rule", in: ruleNode)
                    guard names.insert(name).inserted else { throw fail(rule["rule"], "\(path).rule", "'\(name)' is used by another rule") }
                    var weight = 1.0
                    if let weightNode = rule["weight"] {
                        guard let value = weightNode.float, value > 0, value <= 100 else {
                            throw fail(weightNode, "\(path).weight", "expected a number in (0, 100]")
                        }
                        weight = value
                    }
                    categoryRules.append(CategoryRule(
                        name: name, category: category, weight: weight, terms: try terms(rule["terms"], "\(path).terms", in: ruleNode)))
                }
            }
            var severityRules: [SeverityRule] = []
            if let severityNode = top["severity"] {
                for (index, ruleNode) in try sequence(severityNode, "severity").enumerated() {
                    let path = "severity[\(index)]"
                    let rule = try mapping(ruleNode, path)
                    try checkKeys(rule, allowed: ["rule", "severity", "effect", "flag", "terms"], path)
                    let name = try code(rule["rule"], "\(path).rule", in: ruleNode)
                    guard names.insert(name).inserted else { throw fail(rule["rule"], "\(path).rule", "'\(name)' is used by another rule") }
                    let severityText = try string(rule["severity"], "\(path).severity", in: ruleNode)
                    guard let severity = Severity(rawValue: severityText) else {
                        throw fail(rule["severity"], "\(path).severity", "'\(severityText)' is not one of minor, moderate, serious")
                    }
                    var effect = SeverityRule.Effect.raise
                    if rule["effect"] != nil {
                        let text = try string(rule["effect"], "\(path).effect", in: ruleNode)
                        guard let value = SeverityRule.Effect(rawValue: text) else {
                            throw fail(rule["effect"], "\(path).effect", "'\(text)' is not one of raise, cap")
                        }
                        effect = value
                    }
                    var flag: SeverityRule.Flag?
                    if rule["flag"] != nil {
                        let text = try string(rule["flag"], "\(path).flag", in: ruleNode)
                        guard let value = SeverityRule.Flag(rawValue: text) else {
                            throw fail(rule["flag"], "\(path).flag", "'\(text)' is not one of safety, reviewThreat, legal, vip")
                        }
                        flag = value
                    }
                    severityRules.append(SeverityRule(
                        name: name, severity: severity, effect: effect, flag: flag,
                        terms: try terms(rule["terms"], "\(path).terms", in: ruleNode)))
                }
            }
            var sentiment = SentimentLexicon()
            if let sentimentNode = top["sentiment"] {
                let lexicon = try mapping(sentimentNode, "sentiment")
                try checkKeys(lexicon, allowed: ["negative", "strongNegative", "positive"], "sentiment")
                if lexicon["negative"] != nil { sentiment.negative = try terms(lexicon["negative"], "sentiment.negative", in: sentimentNode) }
                if lexicon["strongNegative"] != nil {
                    sentiment.strongNegative = try terms(lexicon["strongNegative"], "sentiment.strongNegative", in: sentimentNode)
                }
                if lexicon["positive"] != nil { sentiment.positive = try terms(lexicon["positive"], "sentiment.positive", in: sentimentNode) }
            }
            return RuleSet(version: version, categoryRules: categoryRules, severityRules: severityRules, sentiment: sentiment)
        }
    }
}
