import Logging
import ServiceLifecycle

/// Runs a start-up step (migrations) before the services that depend on it, because `ServiceGroup`
/// starts its services concurrently and does not order them.
///
/// The step is retried with backoff while it fails (a database still starting), until graceful
/// shutdown. Then the inner services run together; graceful shutdown reaches them as their own.
/// ``StageHealth`` learns when the step succeeded and when an inner service stopped, for `/health/ready`.
public struct PreludeService: Service {
    let name: String
    let prelude: @Sendable () async throws -> Void
    let services: [(name: String, service: any Service)]
    let retry: RetryPolicy
    let health: StageHealth
    let logger: Logger

    public init(
        name: String, retry: RetryPolicy = RetryPolicy(), health: StageHealth = StageHealth(), logger: Logger,
        prelude: @escaping @Sendable () async throws -> Void, then services: [(name: String, service: any Service)]
    ) {
        self.name = name
        self.prelude = prelude
        self.services = services
        self.retry = retry
        self.health = health
        self.logger = logger
    }

    public func run() async throws {
        var attempt = 1
        while true {
            do {
                try await prelude()
                health.migrated()
                break
            } catch {
                health.migrationFailed("\(error)")
                logger.warning("\(name) failed; retrying", metadata: [LoggingKeys.error: "\(String(reflecting: error))", LoggingKeys.attempt: "\(attempt)"])
                guard await PipelineSleep.sleep(retry.delay(afterAttempt: attempt)) else { return }
                attempt += 1
            }
        }
        let health = self.health
        try await withThrowingDiscardingTaskGroup { group in
            for (name, service) in services {
                group.addTask {
                    health.started(name)
                    do {
                        try await service.run()
                        health.stopped(name, reason: "finished")
                    } catch {
                        health.stopped(name, reason: "\(error)")
                        throw error
                    }
                }
            }
        }
    }
}
