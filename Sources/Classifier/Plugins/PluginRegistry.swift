import Logging

/// Builds plugins by name, so configuration (`CLASSIFIER_PLUGINS=keyword,logistic,http`)
/// chooses and orders them. A deployment can register more kinds before building.
public struct PluginRegistry: Sendable {
    /// What a plugin factory may use.
    public struct Resources: Sendable {
        public var rules: RuleSet
        public var model: TextModelScorer?
        public var configuration: ClassifierConfiguration
        public var logger: Logger

        public init(rules: RuleSet, model: TextModelScorer?, configuration: ClassifierConfiguration, logger: Logger) {
            self.rules = rules
            self.model = model
            self.configuration = configuration
            self.logger = logger
        }
    }

    public typealias Factory = @Sendable (Resources) throws -> any ClassifierPlugin

    /// A plugin name that is not registered, or a plugin that cannot be built.
    public struct UnknownPlugin: Error, CustomStringConvertible {
        public var name: String
        public var known: [String]
        public var description: String { "unknown classifier plugin '\(name)' (known: \(known.joined(separator: ", ")))" }
    }

    /// A plugin that lacks something it needs.
    public struct MissingResource: Error, CustomStringConvertible {
        public var description: String
    }

    private var factories: [String: Factory] = [:]

    public init() {}

    /// The built-in kinds: `keyword`, `logistic` (also under its old name `naive_bayes`, so existing
    /// `CLASSIFIER_PLUGINS` settings keep working), `http`.
    public static let standard: PluginRegistry = {
        var registry = PluginRegistry()
        registry.register("keyword") { KeywordClassifier(rules: $0.rules, weight: $0.configuration.keywordWeight) }
        let model: Factory = { resources in
            guard let model = resources.model else { throw MissingResource(description: "plugin logistic needs a model file (CLASSIFIER_MODEL_FILE)") }
            return ModelClassifier(scorer: model, weight: resources.configuration.modelWeight, temperature: resources.configuration.modelTemperature)
        }
        registry.register(ModelClassifier.pluginName, model)
        registry.register("naive_bayes", model)
        registry.register("http") { resources in
            guard let url = resources.configuration.externalURL else {
                throw MissingResource(description: "plugin http needs CLASSIFIER_EXTERNAL_URL")
            }
            return HTTPClassifier(
                url: url, timeout: resources.configuration.externalTimeout, weight: resources.configuration.externalWeight,
                token: resources.configuration.externalToken, keyScope: resources.configuration.externalKeyScope,
                logger: resources.logger)
        }
        return registry
    }()

    public mutating func register(_ name: String, _ factory: @escaping Factory) {
        factories[name] = factory
    }

    public var names: [String] { factories.keys.sorted() }

    /// Builds `names` in order.
    public func makePlugins(_ names: [String], resources: Resources) throws -> [any ClassifierPlugin] {
        try names.map { name in
            guard let factory = factories[name] else { throw UnknownPlugin(name: name, known: self.names) }
            return try factory(resources)
        }
    }
}
