import Subprocess

#if canImport(System)
import System
#else
import SystemPackage
#endif

/// Runs a short program to completion through swift-subprocess (`pg_config --bindir`, `kcat`, a
/// validator script), reading its output as it comes: no thread of the cooperative pool blocks on
/// the child, and a child that writes a lot to one stream cannot stall on a full pipe.
public enum ProgramRun {
    /// The outcome of a finished program.
    public struct Result: Sendable {
        /// The exit status, or the signal number if ``signalled``.
        public var status: Int32
        /// Whether the program was killed by a signal.
        public var signalled: Bool
        public var standardOutput: String
        public var standardError: String

        /// Standard output, then standard error.
        public var output: String { standardOutput + standardError }
        public var succeeded: Bool { !signalled && status == 0 }
    }

    /// Runs `executable` (a path, or a name looked up in `PATH`) with `arguments`, in this process's
    /// environment with `environment` added (a nil value removes the variable), with `input` as its
    /// standard input (empty: at its end at once), and waits for it to exit. Each output stream keeps
    /// at most `limit` bytes.
    public static func run(
        _ executable: String, _ arguments: [String] = [], environment: [String: String?] = [:], workingDirectory: String? = nil,
        input: String = "", limit: Int = 16 * 1024 * 1024
    ) async throws -> Result {
        var overrides: [Environment.Key: String?] = [:]
        for (name, value) in environment { overrides[Environment.Key(stringLiteral: name)] = value }
        let result = try await Subprocess.run(
            executable.contains("/") ? .path(FilePath(executable)) : .name(executable), arguments: Arguments(arguments),
            environment: .inherit.updating(overrides), workingDirectory: workingDirectory.map { FilePath($0) }, input: .string(input),
            output: .string(limit: limit), error: .string(limit: limit))
        let (status, signalled): (Int32, Bool) = switch result.terminationStatus {
        case .exited(let code): (code, false)
        case .signaled(let signal): (signal, true)
        }
        return Result(
            status: status, signalled: signalled, standardOutput: result.standardOutput, standardError: result.standardError)
    }
}
