import ComplaintMetrics
import ComplaintPipeline

/// `redress-metrics`: measures the loop (every complaint topic and notifications.delivered.v1 → rollups →
/// KPI API, dashboard, Prometheus gauges, alerts.v1). Settings: ServiceSettings (KAFKA_BROKERS,
/// DATABASE_URL, …) and MetricsConfiguration (METRICS_*).
await ServiceMain.run(.metrics) { settings, registry, logger in
    try MetricsService.makeRuntime(
        settings: settings, configuration: try await MetricsConfiguration.load(), registry: registry, logger: logger)
}
