import Classifier
import ComplaintPipeline

/// `redress-classifier`: classifies registered complaints (complaints.received.v1 → complaints.classified.v1).
/// Settings: ServiceSettings (KAFKA_BROKERS, DATABASE_URL, …) and ClassifierConfiguration (CLASSIFIER_*).
await ServiceMain.run(.classifier) { settings, registry, logger in
    try ClassifierService.makeRuntime(
        settings: settings, configuration: try await ClassifierConfiguration.load(), registry: registry, logger: logger)
}
