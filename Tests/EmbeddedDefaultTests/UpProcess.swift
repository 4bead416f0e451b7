import ComplaintTesting
import EmbeddedDefault
import NIOHTTP1
import Foundation

/// `redress up` started as a developer starts it — a separate process on the embedded default — for the
/// tests that follow complaints across the real services; stopped as Ctrl-C would, so it stops its
/// children (SIGKILL only as a last resort).
final class UpProcess: @unchecked Sendable {
    /// Started through LaunchedProgram (swift-subprocess), not Foundation's Process, whose start can crash a
    /// test process holding many descriptors.
    let process: LaunchedProgram
    let folder: URL
    /// What it printed up to "settings:".
    var banner: String { printed.banner }
    /// The variables of its up.env.
    private(set) var variables: [String: String] = [:]
    /// What it printed, split at the banner's end.
    private let printed: PrintedLater
    /// What it printed after the banner.
    var output: String { printed.text }

    /// Waits until it has printed `text` after the banner.
    func waitForOutput(_ text: String, timeout: Duration) async -> Bool {
        await eventually(timeout: timeout) {
            if output.contains(text) { return true }
            try? await Task.sleep(for: .milliseconds(200))
            return output.contains(text)
        }
    }

    init(arguments: [String] = [], environment extra: [String: String] = [:]) async throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("redress-up-\(UUID().uuidString.prefix(8))")
        guard let executable = RedressExecutable.url else { throw UpProcessError(description: "redress executable not built") }
        // The embedded default: nothing configured.
        var environment: [String: String?] = ["KAFKA_BROKERS": nil, "DATABASE_URL": nil]
        // It ends with this test process, even one stopped by Ctrl-C that never ran its deinit.
        environment[ServiceSupervisor.supervisorVariable] = String(getpid())
        for (name, value) in extra { environment[name] = value }
        let printed = PrintedLater()
        self.printed = printed
        let (bannerEnded, ended) = AsyncStream.makeStream(of: Void.self)
        process = try await LaunchedProgram.launch(
            executable.path, arguments: ["up", "--data-dir", folder.path, "--log-level", "warning"] + arguments,
            environment: environment, output: .lines { line in if printed.append(line) { ended.yield() } })
        // Ready when it says so (or gone).
        let process = self.process
        await withTaskGroup(of: Void.self) { group in
            group.addTask { for await _ in bannerEnded { return } }
            group.addTask { _ = await process.exited() }
            await group.next()
            group.cancelAll()
        }
        ended.finish()
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

    /// SIGTERM, up to 30 s to stop (waiting without holding a thread of the task pool, also when cancelled),
    /// then SIGKILL. Returns the exit status.
    @discardableResult
    func stop() async -> Int32 {
        await process.stop(grace: .seconds(30))?.status ?? -1
    }

    /// The same, blocking: for `deinit` and `defer`, when a test cannot await.
    @discardableResult
    func stopNow() -> Int32 {
        process.stopBlocking(grace: .seconds(30))?.status ?? -1
    }

    /// Whether any process of its data folder is still running (`pgrep -f`, read from /proc without starting one).
    var leftSurvivors: Bool {
        let own = getpid()
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.contains { pid in
            guard pid != own, let line = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: line.map { $0 == 0 ? 32 : $0 }, as: UTF8.self).contains(folder.path)
        }
    }

    deinit {
        stopNow()
        try? FileManager.default.removeItem(at: folder)
    }
}

/// What `redress up` printed, line by line as its output task hands them over: the banner up to "settings:",
/// then the rest.
final class PrintedLater: @unchecked Sendable {
    private let lock = NSLock()
    private var head = ""
    private var printed = ""
    private var inBanner = true
    var banner: String { lock.withLock { head } }
    var text: String { lock.withLock { printed } }

    /// Adds a line; returns whether it ended the banner.
    func append(_ line: String) -> Bool {
        lock.withLock {
            guard inBanner else {
                printed += line + "\n"
                return false
            }
            head += line + "\n"
            inBanner = !line.contains("settings:")
            return !inBanner
        }
    }
}

struct UpProcessError: Error, CustomStringConvertible {
    var description: String
}
