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
