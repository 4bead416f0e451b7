import Synchronization

/// Records when a spawned process exits, for callers that poll for it from async code.
final class ProcessExitMonitor: Sendable {
    /// How a process ended.
    struct Exit: Sendable, Hashable, CustomStringConvertible {
        var status: Int32
        var signalled: Bool

        var description: String {
            self.signalled ? "killed by signal \(self.status)" : "exited with status \(self.status)"
        }
    }

    private let exit = Mutex<Exit?>(nil)

    /// The exit, once it happened.
    var exitStatus: Exit? {
        self.exit.withLock { $0 }
    }

    /// Called from `Process.terminationHandler`.
    func markExited(status: Int32, signalled: Bool) {
        self.exit.withLock { $0 = Exit(status: status, signalled: signalled) }
    }

    /// Waits until the process exits or `timeout` passes, polling every 20 ms.
    ///
    /// The wait deliberately ignores the caller's cancellation (it runs in its own task): stopping a server from a
    /// cancelled task, as cleanup code does, must still wait for the server to be gone.
    ///
    /// - Returns: Whether the process has exited.
    func waitForExit(timeout: Duration) async -> Bool {
        await Task {
            let deadline = ContinuousClock.now + timeout
            while self.exitStatus == nil {
                guard ContinuousClock.now < deadline else { return false }
                try? await Task.sleep(for: .milliseconds(20))
            }
            return true
        }.value
    }
}
