import ComplaintPipeline
import Intake
import Foundation
import Logging
import ServiceLifecycle

/// `redress-intake`: the front door of Redress (HTTP and `complaints.submitted.v1`).
let settings: ServiceSettings
let configuration: IntakeConfiguration
do {
    settings = try await ServiceSettings.load(for: .intake)
    configuration = try await IntakeConfiguration.load()
} catch {
    FileHandle.standardError.write(Data("redress-intake: \(error)\n".utf8))
    exit(2)
}
let registry = Observability.bootstrap(settings: settings, service: .intake)
let logger = Logger(label: "redress.intake")
let runtime = IntakeService.runtime(settings: settings, configuration: configuration, registry: registry, logger: logger)

try await runtime.makeServiceGroup().run()
