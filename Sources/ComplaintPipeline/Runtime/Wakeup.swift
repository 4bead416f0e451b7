import ComplaintStore
import Logging
import NIOConcurrencyHelpers
import PostgresNIO

/// A wake-up flag: ``signal()`` wakes the current or next ``wait(timeout:)``; signals do not queue
/// up beyond one. ``follow(channel:client:logger:)`` turns a PostgreSQL `NOTIFY` channel into signals.
public final class Wakeup: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    public func signal() {
        let waiter = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.pending = true
            return nil
        }
        waiter?.resume()
    }

    /// Returns when signalled, after `timeout`, or on cancellation.
    public func wait(timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                try? await Task.sleep(for: timeout)
            }
            group.addTask {
                await withTaskCancellationHandler {
                    await withCheckedContinuation { continuation in
                        let resumeNow = self.state.withLockedValue { state -> Bool in
                            if state.pending || Task.isCancelled {
                                state.pending = false
                                return true
                            }
                            state.waiter = continuation
                            return false
                        }
                        if resumeNow { continuation.resume() }
                    }
                } onCancel: {
                    let waiter = self.state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
                        defer { state.waiter = nil }
                        return state.waiter
                    }
                    waiter?.resume()
                }
            }
            await group.next()
            group.cancelAll()
        }
    }

    /// Signals on every notification of `channel` (and once each time listening starts, for what was
    /// committed before); listens again after a dropped connection, until the task is cancelled.
    public func follow(channel: String, client: PostgresClient, logger: Logger) async {
        var failures = 0
        while !Task.isCancelled {
            do {
                try await client.withNotifications(channel: channel, logger: logger) { notifications in
                    failures = 0
                    self.signal()
                    for try await _ in notifications { self.signal() }
                }
            } catch {
                if Task.isCancelled { return }
                failures += 1
                logger.debug("notifications interrupted; listening again", metadata: ["channel": "\(channel)", LoggingKeys.error: "\(error)"])
                do { try await Task.sleep(for: RetryPolicy().delay(afterAttempt: failures)) } catch { return }
            }
        }
    }
}
