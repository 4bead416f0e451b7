import ComplaintPipeline
import Intake

/// `redress-intake`: the front door of Redress (HTTP and `complaints.submitted.v1`).
await ServiceMain.run(.intake) { settings, registry, logger in
    IntakeService.runtime(settings: settings, configuration: try await IntakeConfiguration.load(), registry: registry, logger: logger)
}
