import Assignment
import ComplaintPipeline

/// `redress-assignment`: gives every classified complaint a department and a person on duty, and hands
/// escalations up the hotel's chain (complaints.classified.v1, complaints.sla.v1, complaints.updated.v1 →
/// complaints.assigned.v1). Settings: ServiceSettings (KAFKA_BROKERS, DATABASE_URL, …) and
/// AssignmentConfiguration (ASSIGNMENT_*).
await ServiceMain.run(.assignment) { settings, registry, logger in
    try await AssignmentService.makeRuntime(
        settings: settings, configuration: try AssignmentConfiguration.load(), registry: registry, logger: logger)
}
