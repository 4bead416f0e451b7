import Foundation

/// The relay's lag, for readiness checks and metrics.
public struct OutboxBacklog: Sendable, Hashable {
    /// Rows not yet marked sent.
    public var unsentCount: Int
    /// When the oldest unsent row was enqueued; `nil` when nothing is pending.
    public var oldestUnsentAt: Date?

    /// Creates a backlog value.
    public init(unsentCount: Int, oldestUnsentAt: Date?) {
        self.unsentCount = unsentCount
        self.oldestUnsentAt = oldestUnsentAt
    }
}
