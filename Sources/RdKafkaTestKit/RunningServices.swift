import Logging
import ServiceLifecycle

/// Runs `services` in a `ServiceGroup` while `body` runs, then shuts them down gracefully and waits
/// for them, also when `body` throws: the way swift-kafka-client's tests drive clients.
public func withRunningServices<Result: Sendable>(
    _ services: [any Service],
    logger: Logger = .kafkaTest,
    _ body: () async throws -> Result
) async throws -> Result {
    try await withRunning(ServiceGroup(configuration: ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [], logger: logger)), body)
}

/// Runs `group` while `body` runs, then shuts it down gracefully and waits for it, also when `body`
/// throws: for a group a runtime built itself.
public func withRunning<Result: Sendable>(_ group: ServiceGroup, _ body: () async throws -> Result) async throws -> Result {
    try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        let result: Result
        do {
            result = try await body()
        } catch {
            await group.triggerGracefulShutdown()
            try? await tasks.waitForAll()
            throw error
        }
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
        return result
    }
}

/// Thrown by ``withTimeout(_:_:)`` when the body did not finish in time.
public struct TestTimeoutError: Error, CustomStringConvertible {
    public let timeout: Duration
    public var description: String { "timed out after \(timeout)" }
}

/// Runs `body`, cancelling it and throwing ``TestTimeoutError`` after `timeout`.
public func withTimeout<Result: Sendable>(_ timeout: Duration, _ body: @escaping @Sendable () async throws -> Result) async throws -> Result {
    try await withThrowingTaskGroup(of: Result?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let result = first else { throw TestTimeoutError(timeout: timeout) }
        return result
    }
}
