/// Thrown by ``withDeadline(_:onDeadline:_:)`` when the work did not finish in time.
public struct DeadlineExceeded: Error, CustomStringConvertible, Sendable {
    public var limit: Duration
    public var description: String { "no answer within \(limit)" }
}

/// Runs `work`, cancelling it after `limit`: readiness checks, request handlers and the outbox relay
/// bound their waits on dependencies with it.
///
/// Cancelled work that finishes all the same — a query already sent runs to its end, a `COMMIT`
/// included, and a broker may still acknowledge — returns its result: answering "no answer" for work
/// that was done would make the caller repeat it (a compensation granted twice). Only work that
/// ends without a result after the deadline throws ``DeadlineExceeded``.
///
/// - Parameter onDeadline: Run once when the deadline passes, after `work` was cancelled and before
///   waiting for it to end; never when `work` ends in time. For work that cancellation cannot stop,
///   such as a query already sent to PostgreSQL: closing its connection here fails it at once, where
///   the wait would otherwise last until the server answered or the kernel gave up.
public func withDeadline<Result: Sendable>(
    _ limit: Duration,
    onDeadline: (@Sendable () async -> Void)? = nil,
    _ work: @escaping @Sendable () async throws -> Result
) async throws -> Result {
    try await withThrowingTaskGroup(of: Result?.self) { group in
        group.addTask { try await work() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        if let first = try await group.next(), let result = first { return result }
        group.cancelAll()
        await onDeadline?()
        do {
            while let next = try await group.next() {
                if let result = next { return result }
            }
        } catch {
            // Cut short by the cancellation (or failed after the deadline): nothing was done in time.
        }
        throw DeadlineExceeded(limit: limit)
    }
}
