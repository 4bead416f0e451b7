import Access
import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import Hummingbird
import Logging
import Prometheus

/// Builds the classifier from configuration: the engine (rules, model, plugins) and the whole
/// stage process around its handler. The `redress-classifier` main and the tests use it.
public enum ClassifierService {
    /// Loads the rules and the model and builds the configured plugins in order.
    public static func makeEngine(
        configuration: ClassifierConfiguration, registry: PluginRegistry = .standard, logger: Logger
    ) throws -> ClassificationEngine {
        let rules = try RuleSetLoader.load(contentsOf: configuration.rulesFile)
        var model: TextModelScorer?
        if configuration.plugins.contains(ModelClassifier.pluginName) || configuration.plugins.contains("naive_bayes") {
            model = TextModelScorer(model: try TextModel.load(contentsOf: configuration.modelFile))
        }
        let plugins = try registry.makePlugins(
            configuration.plugins,
            resources: .init(rules: rules, model: model, configuration: configuration, logger: logger))
        return ClassificationEngine(rules: rules, plugins: plugins, configuration: configuration)
    }

    /// The stage process: consumes `complaints.received.v1`, publishes `complaints.classified.v1`,
    /// owns the `classifier` schema.
    public static func makeRuntime(
        settings: ServiceSettings, configuration: ClassifierConfiguration, registry: PrometheusCollectorRegistry, logger: Logger
    ) throws -> StageRuntime {
        let engine = try makeEngine(configuration: configuration, logger: logger)
        logger.info("classifier ready", metadata: [
            "classifier.plugins": "\(configuration.plugins.joined(separator: ","))",
            "classifier.version": "\(engine.version)",
        ])
        let handler = ClassifierHandler(engine: engine)
        var runtime = StageRuntime(
            service: .classifier, settings: settings, inputs: [input(Topics.received, handler)], registry: registry, logger: logger)
        runtime.addRoutes = correctionRoutes(rules: engine.rules)
        var retention = configuration.retention
        if let inbox = settings.inboxRetention { retention.inboxAge = inbox }
        logger.info("classifier retention", metadata: [
            "classifier.retention": "\(retention.verdictAge.map { "\($0.components.seconds / 86_400) days" } ?? "for ever")",
            "classifier.guest_history.retention": "\(retention.retention == nil ? "for ever" : "\(retention.guestHistoryAge.components.seconds / 86_400) days")",
        ])
        runtime.backgroundServices.append(retentionService(retention))
        return runtime
    }

    /// The classifier's input: `topic` to `handler`. Under a backlog its events share transactions, and
    /// each shared transaction takes all its events' guest locks first, sorted
    /// (``ClassifierHandler/guestLocks``): the handler locks the guest at the hotel
    /// (``ClassificationStore/lockGuest(of:on:logger:)``), a row beyond its own complaint, and two
    /// partitions' transactions taking those locks event by event would wait on each other in a cycle.
    /// A shared transaction rolled back is applied one event at a time without asking the plugins (an
    /// external model) again. The service and a replay use it.
    public static func input(_ topic: Topic<ComplaintReceived>, _ handler: ClassifierHandler) -> StageInput {
        StageInput(topic, preparing: handler, lockingFirst: ClassifierHandler.guestLocks)
    }

    /// The purge of old verdicts, corrections and guest history (``ClassifierRetention``), as the stage runs it.
    public static func retentionService(_ configuration: ClassifierRetention.Configuration) -> BackgroundService {
        BackgroundService(name: "classifier retention") { resources in
            ClassifierRetention(store: resources.store, configuration: configuration, logger: resources.logger)
        }
    }

    /// Staff corrections (`PUT /v1/complaints/{id}/classification`), publishing on `outputTopic`; `rules`
    /// are the engine's (a verdict's safety cues keep its safety flag).
    public static func correctionRoutes(
        rules: RuleSet, outputTopic: Topic<ComplaintClassified> = Topics.classified
    ) -> @Sendable (Router<RedressRequestContext>, StageResources) -> Void {
        { router, resources in
            ClassificationCorrectionAPI(
                store: resources.requestStore, database: resources.database, authentication: resources.authentication, rules: rules,
                outputTopic: outputTopic
            ).addRoutes(to: router)
        }
    }
}
