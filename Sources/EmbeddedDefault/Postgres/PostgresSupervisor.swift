import Logging
import ServiceLifecycle

/// Keeps the embedded default's PostgreSQL up the way ``ServiceSupervisor`` keeps the services up:
/// when the server dies (its postmaster killed, a crash), the death is logged at `error` and the
/// server is started again on the same data folder, port and password, with growing delays between
/// attempts; the services reconnect on their own. On graceful shutdown it stops the server, and only
/// a server that is actually running is reported as stopped.
public final class PostgresSupervisor: Service {
    private let server: EmbeddedPostgres
    private let logger: Logger
    private let initialDelay: Duration
    private let maximumDelay: Duration

    public init(server: EmbeddedPostgres, initialDelay: Duration = .milliseconds(500), maximumDelay: Duration = .seconds(30), logger: Logger) {
        self.server = server
        self.initialDelay = initialDelay
        self.maximumDelay = maximumDelay
        self.logger = logger
    }

    public func run() async throws {
        var delay = initialDelay
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let started = ContinuousClock.now
            do {
                // Starts the server if needed, watches it, and stops it on graceful shutdown.
                try await server.run()
                return
            } catch {
                logger.error("embedded PostgreSQL is down; restarting it", metadata: ["error": "\(error)", "retry.in": "\(delay)"])
            }
            // A server that ran a good while earns a quick restart again.
            if ContinuousClock.now - started > .seconds(60) { delay = initialDelay }
            let wait = delay
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }
            } catch {
                return
            }
            delay = min(maximumDelay, delay * 2)
        }
    }
}
