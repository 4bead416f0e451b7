import Subprocess

#if canImport(System)
import System
#else
import SystemPackage
#endif

/// Runs short helper programs (`pg_config --bindir`, `postgres --version`) to completion through
/// swift-subprocess, without blocking a thread of the cooperative pool.
enum ChildProcess {
    /// The outcome of a finished program.
    struct Result: Sendable {
        /// The exit status, or the signal number if ``signalled``.
        var status: Int32
        /// Whether the program was killed by a signal.
        var signalled: Bool
        /// Standard output, then standard error (each at most 64 KiB).
        var output: String

        var succeeded: Bool { !self.signalled && self.status == 0 }
    }

    /// Runs `executable` with `arguments` and waits for it to exit.
    static func run(_ executable: String, _ arguments: [String]) async throws -> Result {
        let result = try await Subprocess.run(
            .path(FilePath(executable)), arguments: Arguments(arguments), input: .none,
            output: .string(limit: 64 * 1024), error: .string(limit: 64 * 1024))
        let output = (result.standardOutput ?? "") + (result.standardError ?? "")
        switch result.terminationStatus {
        case .exited(let code):
            return Result(status: code, signalled: false, output: output)
        case .signaled(let signal):
            return Result(status: signal, signalled: true, output: output)
        }
    }
}
