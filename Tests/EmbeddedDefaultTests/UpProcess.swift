import ComplaintTesting
import EmbeddedDefault
import NIOHTTP1
import Foundation

/// `redress up` started as a developer starts it — a separate process on the embedded default — for the
/// tests that follow complaints across the real services; stopped as Ctrl-C would, so it stops its
/// children (SIGKILL only as a last resort).
final class UpProcess: @unchecked Sendable {
    let process = Process()
    let folder: URL
    /// What it printed up to "settings:".
    private(set) var banner = ""
    /// The variables of its up.env.
    private(set) var variables: [String: String] = [:]
    /// What it printed after the banner.
    private let later = PrintedLater()
    var output: String { later.text }

    /// Waits until it has printed `text` after the banner.
    func waitForOutput(_ text: String, timeout: Duration) async -> Bool {
        await eventually(timeout: timeout) {
            if output.contains(text) { return true }
            try? await Task.sleep(for: .milliseconds(200))
            return output.contains(text)
        }
    }

    init(arguments: [String] = [], environment extra: [String: String] = [:]) throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("redress-up-\(UUID().uuidString.prefix(8))")
        guard let executable = RedressExecutable.url else { throw UpProcessError(description: "redress executable not built") }
        process.executableURL = executable
        process.arguments = ["up", "--data-dir", folder.path, "--log-level", "warning"] + arguments
        // The embedded default: nothing configured.
        var environment = ProcessInfo.processInfo.environment
        environment["KAFKA_BROKERS"] = nil
        environment["DATABASE_URL"] = nil
        // It ends with this test process, even one stopped by Ctrl-C that never ran its deinit.
        environment[ServiceSupervisor.supervisorVariable] = String(getpid())
        environment.merge(extra) { _, new in new }
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Ready when it says so.
        while !banner.contains("settings:") {
            let chunk = output.fileHandleForReading.availableData
            guard !chunk.isEmpty else { break }
            banner += String(decoding: chunk, as: UTF8.self)
        }
        // What it prints later (the demo day's lines) is kept too; the pipe is drained so it never blocks.
        let handle = output.fileHandleForReading
        let later = self.later
        Thread.detachNewThread {
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { return }
                later.append(String(decoding: chunk, as: UTF8.self))
            }
        }
        let env = (try? String(contentsOfFile: folder.appendingPathComponent("up.env").path, encoding: .utf8)) ?? ""
        for line in env.split(separator: "\n") where line.hasPrefix("export ") {
            let assignment = line.dropFirst("export ".count)
            guard let equals = assignment.firstIndex(of: "=") else { continue }
            variables[String(assignment[..<equals])] = String(assignment[assignment.index(after: equals)...].dropFirst().dropLast())
        }
    }

    /// The service URLs of up.env (`INTAKE_URL`, …).
    var serviceURLs: [String] { variables.filter { $0.key.hasSuffix("_URL") && $0.key != "DATABASE_URL" }.map(\.value).sorted() }

    /// Waits until every service answers `/health/ready`.
    func waitUntilReady(timeout: Duration = .seconds(90)) async throws -> Bool {
        let urls = serviceURLs
        return await eventually(timeout: timeout) {
            for base in urls {
                guard (try? await plainRequest(.GET, base + "/health/ready", key: nil))?.status == 200 else { return false }
            }
            return true
        }
    }

    /// SIGTERM, then waits; SIGKILL after 30 s. Returns the exit status.
    @discardableResult
    /// SIGTERM, up to 30 s to stop (waiting without holding a thread of the task pool), then SIGKILL.
    func stop() async -> Int32 {
        if process.isRunning {
            process.terminate()
            let deadline = ContinuousClock.now + .seconds(30)
            // Cancelled, the sleep would return at once: stopNow waits instead, without spinning.
            while process.isRunning && ContinuousClock.now < deadline && !Task.isCancelled { try? await Task.sleep(for: .milliseconds(50)) }
        }
        return stopNow()
    }

    /// The same, blocking: for `deinit`, when a test ended without stopping it.
    @discardableResult
    func stopNow() -> Int32 {
        if process.isRunning {
            process.terminate()
            let deadline = Date().addingTimeInterval(30)
            while process.isRunning && Date() < deadline { usleep(50_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Whether any process of its data folder is still running.
    var leftSurvivors: Bool {
        let survivors = Process()
        survivors.executableURL = URL(fileURLWithPath: "/usr/bin/pgrep")
        survivors.arguments = ["-f", folder.path]
        survivors.standardOutput = FileHandle.nullDevice
        try? survivors.run()
        survivors.waitUntilExit()
        return survivors.terminationStatus != 1
    }

    deinit {
        stopNow()
        try? FileManager.default.removeItem(at: folder)
    }
}

/// What `redress up` printed after its banner, appended by the thread that drains its output.
final class PrintedLater: @unchecked Sendable {
    private let lock = NSLock()
    private var printed = ""
    var text: String { lock.withLock { printed } }
    func append(_ chunk: String) { lock.withLock { printed += chunk } }
}

struct UpProcessError: Error, CustomStringConvertible {
    var description: String
}
