/// Tells when a ``LaunchedProgram`` (the embedded PostgreSQL server, `initdb`) exits, for callers that check on it
/// from async code.
final class ProcessExitMonitor: Sendable {
    /// How a process ended.
    typealias Exit = LaunchedProgram.Exit

    private let program: LaunchedProgram

    init(_ program: LaunchedProgram) {
        self.program = program
    }

    /// The exit, once it happened (the process has been reaped).
    var exitStatus: Exit? {
        self.program.exit
    }

    /// Waits until the process exits or `timeout` passes.
    ///
    /// The wait deliberately ignores the caller's cancellation: stopping a server from a cancelled task, as clean-up
    /// code does, must still wait for the server to be gone.
    ///
    /// - Returns: Whether the process has exited.
    func waitForExit(timeout: Duration) async -> Bool {
        await self.program.waitForExit(timeout: timeout) != nil
    }
}
