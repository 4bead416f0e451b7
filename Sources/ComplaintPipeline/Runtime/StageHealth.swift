import NIOConcurrencyHelpers

/// What `/health/ready` knows about a stage's own start-up and long-running parts: whether its
/// migrations were applied, and whether each background service (pipeline, relay, workers, sweeps)
/// is still running.
public final class StageHealth: Sendable {
    private struct State {
        var migrated = false
        var migrationError: String?
        var stopped: [String: String] = [:]
        var running: Set<String> = []
        /// Loops whose rounds have failed since this instant, with the last failure's reason.
        var failing: [String: (since: ContinuousClock.Instant, reason: String)] = [:]
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    func migrationFailed(_ error: String) { state.withLockedValue { $0.migrationError = error } }
    func migrated() { state.withLockedValue { $0.migrated = true; $0.migrationError = nil } }
    func started(_ name: String) { state.withLockedValue { _ = $0.running.insert(name) } }
    func stopped(_ name: String, reason: String) {
        state.withLockedValue {
            $0.running.remove(name)
            $0.stopped[name] = reason
        }
    }

    /// A round of loop `name` did its work: it is not stalled.
    func roundSucceeded(_ name: String) { state.withLockedValue { _ = $0.failing.removeValue(forKey: name) } }

    /// A round of loop `name` failed (or got nothing through); it counts as stalled once its rounds
    /// have failed for long, with no success between.
    func roundFailed(_ name: String, reason: String, now: ContinuousClock.Instant = .now) {
        state.withLockedValue { state in
            state.failing[name] = (state.failing[name]?.since ?? now, reason)
        }
    }

    /// The loops (relay, workers) whose rounds have all failed for at least `threshold`, each with how
    /// long and its last reason: running, so ``problem`` does not see them, yet making no progress.
    public func stalled(for threshold: Duration, now: ContinuousClock.Instant = .now) -> [String] {
        state.withLockedValue { state in
            state.failing.filter { now - $0.value.since >= threshold }.sorted { $0.key < $1.key }.map { name, failing in
                "\(name) has failed every round for \((now - failing.since).components.seconds) s (last: \(failing.reason))"
            }
        }
    }

    /// The names of the background services running now.
    public var running: Set<String> { state.withLockedValue { $0.running } }

    /// Why the stage cannot work yet (or any more), or `nil` when it can.
    public var problem: String? {
        state.withLockedValue { state in
            if !state.migrated {
                return "migrations not applied yet" + (state.migrationError.map { ": \($0)" } ?? "")
            }
            if let (name, reason) = state.stopped.sorted(by: { $0.key < $1.key }).first {
                return "\(name) stopped: \(reason)"
            }
            return nil
        }
    }
}

/// How a background loop (the outbox relay, a work-queue worker) tells ``StageHealth`` whether its
/// rounds get anything done, so that one that runs but never progresses shows on `/health/dependencies`.
public struct RoundReporter: Sendable {
    let health: StageHealth
    let name: String

    public init(health: StageHealth, name: String) {
        self.health = health
        self.name = name
    }

    func succeeded() { health.roundSucceeded(name) }
    func failed(_ reason: String) { health.roundFailed(name, reason: reason) }
}
