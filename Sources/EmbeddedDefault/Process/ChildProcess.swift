import Foundation

/// Runs short helper programs (`pg_config --bindir`, `postgres --version`) to completion without blocking a thread of
/// the cooperative pool: the exit is awaited through `Process.terminationHandler`, and output goes to a temporary
/// file, so a chatty program can never fill a pipe and stall.
enum ChildProcess {
    /// The outcome of a finished program.
    struct Result: Sendable {
        /// The exit status, or the signal number if ``signalled``.
        var status: Int32
        /// Whether the program was killed by a signal.
        var signalled: Bool
        /// Standard output and standard error, interleaved, at most the last 64 KiB.
        var output: String

        var succeeded: Bool { !self.signalled && self.status == 0 }
    }

    /// Runs `executable` with `arguments` and waits for it to exit.
    static func run(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String]? = nil
    ) async throws -> Result {
        let outputPath = FileManager.default.temporaryDirectory
            .appendingPathComponent("redress-child-\(UUID().uuidString).log").path
        guard FileManager.default.createFile(atPath: outputPath, contents: nil) else {
            throw POSIXCallError(call: "create \(outputPath)", errno: errno)
        }
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))

        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment {
            process.environment = environment
        }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = output

        let (status, signalled) = try await withCheckedThrowingContinuation {
            (continuation: CheckedContinuation<(Int32, Bool), any Error>) in
            process.terminationHandler = { finished in
                continuation.resume(returning: (finished.terminationStatus, finished.terminationReason == .uncaughtSignal))
            }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
        try? output.close()

        var text = String(decoding: FileManager.default.contents(atPath: outputPath) ?? Data(), as: UTF8.self)
        if text.utf8.count > 64 * 1024 {
            text = "…" + String(decoding: Array(text.utf8.suffix(64 * 1024)), as: UTF8.self)
        }
        return Result(status: status, signalled: signalled, output: text)
    }
}
