import Foundation
import Logging
import Prometheus
import ServiceLifecycle

/// The one way every Redress service process starts, logs and fails: read ``ServiceSettings``, set up
/// JSON logs and Prometheus metrics, build the stage, run it until SIGTERM or SIGINT.
///
/// A configuration problem is printed once on standard error, naming the variable to fix, and the
/// process exits with status 2 (so an orchestrator shows it instead of restarting in a loop silently);
/// a failure while running is logged at `critical` and the process exits with status 1. Started by
/// `redress up` (`REDRESS_SUPERVISOR_PID` set), it shuts down when that parent is gone.
public enum ServiceMain {
    /// Runs `service`; `makeRuntime` reads the service's own configuration and builds its stage.
    public static func run(
        _ service: RedressService,
        makeRuntime: (ServiceSettings, PrometheusCollectorRegistry, Logger) async throws -> StageRuntime
    ) async -> Never {
        let settings: ServiceSettings
        do {
            settings = try await ServiceSettings.load(for: service)
        } catch {
            fail(service, "\(error)")
        }
        let registry = Observability.bootstrap(settings: settings, service: service)
        let logger = Logger(label: "redress.\(service.name)")
        let group: ServiceGroup
        do {
            group = try await makeRuntime(settings, registry, logger).makeServiceGroup()
        } catch {
            logger.critical("cannot start", metadata: [LoggingKeys.error: "\(error)"])
            fail(service, "\(error)")
        }
        if let supervisor = ProcessInfo.processInfo.environment["REDRESS_SUPERVISOR_PID"].flatMap(Int32.init) {
            // Started by `redress up`: end with it, even when it was killed and could not stop us.
            Task {
                while getppid() == supervisor { try? await Task.sleep(for: .seconds(1)) }
                logger.warning("the supervising redress up is gone; shutting down")
                await group.triggerGracefulShutdown()
            }
        }
        do {
            try await group.run()
            exit(0)
        } catch {
            logger.critical("stopped by an error", metadata: [LoggingKeys.error: "\(String(reflecting: error))"])
            exit(1)
        }
    }

    private static func fail(_ service: RedressService, _ message: String) -> Never {
        FileHandle.standardError.write(Data("\(service.executable): \(message)\n".utf8))
        exit(2)
    }
}
