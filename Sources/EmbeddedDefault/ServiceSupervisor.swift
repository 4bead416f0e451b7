import Foundation
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle

/// Runs child processes for `redress up`: each with its own log file, restarted with backoff when it
/// dies, and stopped by PID on graceful shutdown (SIGTERM, then SIGKILL after a grace period). A child
/// that exits with status 2 (``configurationErrorStatus``: its settings are refused) is not restarted:
/// it would fail the same way for ever.
public final class ServiceSupervisor: Service, Sendable {
    /// Names this process's id in each child's environment; a Redress service that sees its parent
    /// change (this process died, even by SIGKILL) shuts itself down instead of lingering on its port.
    public static let supervisorVariable = "REDRESS_SUPERVISOR_PID"

    /// One child to keep running.
    public struct Child: Sendable, Hashable {
        public var name: String
        public var executable: String
        public var arguments: [String]
        public var environment: [String: String]
        public var logFile: String

        public init(name: String, executable: String, arguments: [String] = [], environment: [String: String], logFile: String) {
            self.name = name
            self.executable = executable
            self.arguments = arguments
            self.environment = environment
            self.logFile = logFile
        }
    }

    /// The exit status a Redress service gives when its configuration is refused (ServiceMain).
    public static let configurationErrorStatus: Int32 = 2

    private struct State {
        var processes: [String: LaunchedProgram] = [:]
        var restarts: [String: Int] = [:]
        var givenUp: [String: String] = [:]
        var stopping = false
    }

    private let children: [Child]
    private let stopTimeout: Duration
    private let logger: Logger
    private let state = NIOLockedValueBox(State())

    /// - Parameter stopTimeout: How long children get to stop before SIGKILL: past the services' own
    ///   shutdown timeout (`SHUTDOWN_TIMEOUT_SECONDS`, 25), so that a slow stop still finishes cleanly.
    public init(children: [Child], stopTimeout: Duration = .seconds(30), logger: Logger) {
        self.children = children
        self.stopTimeout = stopTimeout
        self.logger = logger
    }

    /// PIDs of the running children, by name.
    public var processIDs: [String: Int32] {
        state.withLockedValue { $0.processes.filter { $0.value.isRunning }.mapValues(\.pid) }
    }

    /// How often each child was restarted.
    public var restartCounts: [String: Int] {
        state.withLockedValue { $0.restarts }
    }

    /// The children no longer restarted because their configuration was refused, with the last line of
    /// their log (the reason).
    public var givenUp: [String: String] {
        state.withLockedValue { $0.givenUp }
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for child in children {
                    group.addTask { await self.keepRunning(child) }
                }
            }
            // With no children (none built yet) there is still a stack to keep up until shutdown.
            try? await gracefulShutdown()
        } onGracefulShutdown: {
            self.state.withLockedValue { $0.stopping = true }
        }
        await stopAll()
    }

    private var isStopping: Bool { state.withLockedValue { $0.stopping } }

    private func keepRunning(_ child: Child) async {
        var failuresInARow = 0
        while !isStopping && !Task.isCancelled {
            let started = ContinuousClock.now
            do {
                let process = try await launch(child)
                logger.info("started \(child.name)", metadata: ["pid": "\(process.pid)", "log": "\(child.logFile)"])
                while process.isRunning && !isStopping && !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(100))
                }
                if isStopping || Task.isCancelled { return }
                let status = process.exit.map(\.description) ?? "unknown"
                if process.exit == LaunchedProgram.Exit(status: Self.configurationErrorStatus, signalled: false) {
                    let reason = Self.lastLine(of: child.logFile) ?? "no message"
                    state.withLockedValue { $0.givenUp[child.name] = reason }
                    logger.error("\(child.name) refused its configuration; not restarted (fix it and start again)", metadata: [
                        "status": "\(status)", "reason": "\(reason)", "log": "\(child.logFile)",
                    ])
                    return
                }
                logger.warning("\(child.name) exited; restarting", metadata: ["status": "\(status)"])
                state.withLockedValue { $0.restarts[child.name, default: 0] += 1 }
            } catch {
                logger.error("cannot start \(child.name)", metadata: ["error": "\(error)"])
            }
            // A child that ran for a while restarts at once; one that keeps crashing backs off.
            failuresInARow = ContinuousClock.now - started > .seconds(30) ? 0 : failuresInARow + 1
            let delay = Duration.milliseconds(min(10_000, 200 * (1 << min(failuresInARow, 6))))
            let deadline = ContinuousClock.now + delay
            while ContinuousClock.now < deadline && !isStopping && !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
    }

    /// The last non-empty line of a log (its last 4 KiB read).
    static func lastLine(of path: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        try? handle.seek(toOffset: size > 4096 ? size - 4096 : 0)
        let text = String(decoding: (try? handle.readToEnd()) ?? Data(), as: UTF8.self)
        return text.split(whereSeparator: \.isNewline).last { !$0.trimmingCharacters(in: .whitespaces).isEmpty }.map(String.init)
    }

    /// Creates the folder of the children's logs readable by its owner alone (0700), and makes an
    /// existing one so: a log may quote what a guest sent that was refused. Only this folder: the folders
    /// above it stay as they are (as root, PostgreSQL's user must still reach its data folder beside it).
    /// No umask is involved, so nothing else this process creates changes.
    public static func prepareLogFolder(_ path: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        guard chmod(path, 0o700) == 0 else { throw POSIXCallError(call: "chmod(\(path), 0700)", errno: errno) }
    }

    /// The child's log, opened for appending: created readable and writable by its owner alone (0600),
    /// and an existing one (an earlier run's, created 0644) made so too.
    static func openLog(_ path: String) throws -> FileHandle {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw POSIXCallError(call: "open(\(path))", errno: errno) }
        let log = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        guard fchmod(descriptor, 0o600) == 0 else {
            let error = POSIXCallError(call: "fchmod(\(path), 0600)", errno: errno)
            try? log.close()
            throw error
        }
        return log
    }

    /// Starts `child` through ``LaunchedProgram`` (not Foundation's `Process`, whose start can crash a process
    /// holding many descriptors), its output and errors appended to its log, its input `/dev/null`.
    private func launch(_ child: Child) async throws -> LaunchedProgram {
        let log = try Self.openLog(child.logFile)
        defer { try? log.close() }
        var environment: [String: String?] = child.environment
        // The child shuts itself down if this process dies without stopping it (ServiceMain watches).
        environment[ServiceSupervisor.supervisorVariable] = String(getpid())
        let process = try await LaunchedProgram.launch(
            child.executable, arguments: child.arguments, environment: environment,
            output: .descriptor(log.fileDescriptor), error: .descriptor(log.fileDescriptor))
        state.withLockedValue { $0.processes[child.name] = process }
        return process
    }

    /// SIGTERM to every child, then SIGKILL to those still running after the stop timeout.
    private func stopAll() async {
        let processes = state.withLockedValue { state -> [String: LaunchedProgram] in
            state.stopping = true
            return state.processes
        }
        for (name, process) in processes where process.isRunning {
            logger.info("stopping \(name)", metadata: ["pid": "\(process.pid)"])
            process.signal(SIGTERM)
        }
        let deadline = ContinuousClock.now + stopTimeout
        for process in processes.values {
            _ = await process.waitForExit(timeout: max(.zero, deadline - ContinuousClock.now))
        }
        for (name, process) in processes where process.isRunning {
            logger.warning("\(name) ignored SIGTERM; killing it", metadata: ["pid": "\(process.pid)"])
            process.signal(SIGKILL)
        }
        for process in processes.values {
            while process.isRunning { _ = await process.waitForExit(timeout: .seconds(10)) }
        }
    }
}
