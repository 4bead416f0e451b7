import Logging
import Metrics
import Prometheus

/// Process-wide logging and metrics set-up for a service's `@main`, done once before anything logs.
///
/// Logs become JSON lines without guest personal data (``JSONLogHandler``) at the configured
/// level; swift-metrics (the pipeline's counters and timers, the Kafka delivery counters) feed the
/// returned Prometheus registry, which ``StageRuntime`` serves on `/metrics`.
public enum Observability {
    /// Bootstraps `LoggingSystem` and `MetricsSystem`. Call it once per process.
    /// - Returns: The registry to hand to ``StageRuntime/registry``.
    public static func bootstrap(settings: ServiceSettings, service: RedressService) -> PrometheusCollectorRegistry {
        let level = settings.logLevel
        LoggingSystem.bootstrap { label in
            var handler = JSONLogHandler(label: label)
            handler.logLevel = level
            handler[metadataKey: "service"] = "\(service.name)"
            return handler
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }
}
