import Classifier
import ComplaintPipeline
import Logging
import ServiceLifecycle

// redress-classifier: classifies registered complaints (complaints.received.v1 → complaints.classified.v1).
// Settings: see ServiceSettings (KAFKA_BROKERS, DATABASE_URL, …) and ClassifierConfiguration (CLASSIFIER_*).
let settings = try await ServiceSettings.load(for: .classifier)
let registry = Observability.bootstrap(settings: settings, service: .classifier)
let logger = Logger(label: "redress.classifier")
let configuration = try await ClassifierConfiguration.load()
try await ClassifierService.makeRuntime(settings: settings, configuration: configuration, registry: registry, logger: logger)
    .makeServiceGroup().run()
