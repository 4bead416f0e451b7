/// Thrown by ``withDeadline(_:_:)`` when the work did not finish in time.
public struct DeadlineExceeded: Error, CustomStringConvertible, Sendable {
    public var limit: Duration
    public var description: String { "no answer within \(limit)" }
}

/// Runs `work`, cancelling it and throwing ``DeadlineExceeded`` after `limit`: readiness checks and
/// request handlers bound their waits on dependencies with it.
public func withDeadline<Result: Sendable>(_ limit: Duration, _ work: @escaping @Sendable () async throws -> Result) async throws -> Result {
    try await withThrowingTaskGroup(of: Result?.self) { group in
        group.addTask { try await work() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let result = first else { throw DeadlineExceeded(limit: limit) }
        return result
    }
}
