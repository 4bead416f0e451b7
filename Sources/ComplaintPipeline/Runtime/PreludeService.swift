import Logging
import ServiceLifecycle

/// Runs a start-up step (migrations) before the services that depend on it, because `ServiceGroup`
/// starts its services concurrently and does not order them.
///
/// The step is retried with backoff while it fails (a database still starting), until graceful
/// shutdown. Then the inner services run together; graceful shutdown reaches them as their own.
public struct PreludeService: Service {
    let name: String
    let prelude: @Sendable () async throws -> Void
    let services: [any Service]
    let retry: RetryPolicy
    let logger: Logger

    public init(name: String, retry: RetryPolicy = RetryPolicy(), logger: Logger, prelude: @escaping @Sendable () async throws -> Void, then services: [any Service]) {
        self.name = name
        self.prelude = prelude
        self.services = services
        self.retry = retry
        self.logger = logger
    }

    public func run() async throws {
        var attempt = 1
        while true {
            do {
                try await prelude()
                break
            } catch {
                logger.warning("\(name) failed; retrying", metadata: ["error": "\(String(reflecting: error))", "attempt": "\(attempt)"])
                guard await PipelineSleep.sleep(retry.delay(afterAttempt: attempt)) else { return }
                attempt += 1
            }
        }
        try await withThrowingDiscardingTaskGroup { group in
            for service in services {
                group.addTask { try await service.run() }
            }
        }
    }
}
