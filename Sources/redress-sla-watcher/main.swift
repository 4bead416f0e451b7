import ComplaintPipeline
import SLAWatcher

/// `redress-sla-watcher`: keeps every complaint's SLA clocks and publishes them as events
/// (complaints.classified.v1, complaints.assigned.v1, complaints.updated.v1 → complaints.sla.v1). Settings:
/// ServiceSettings (KAFKA_BROKERS, DATABASE_URL, …) and SLAWatcherConfiguration (SLA_*).
await ServiceMain.run(.slaWatcher) { settings, registry, logger in
    try SLAWatcherService.makeRuntime(
        settings: settings, configuration: try await SLAWatcherConfiguration.load(), registry: registry, logger: logger)
}
