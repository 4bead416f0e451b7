import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A child process (the `postgres` server, or `initdb`) started under a ``Watchdog``.
///
/// With a watchdog, the program is started through `/bin/sh`, which waits for a `go` line on its standard input
/// before it `exec`s the program (through `setpriv` when running as root). In between, the watchdog is told the PID.
/// So the PID Foundation reports *is* the program's (for the server, the postmaster's, as in `postmaster.pid`), and
/// if this process dies before `go`, the shell reads EOF and exits without starting anything: there is no instant in
/// which the program runs unwatched. Foundation spawns each child in its own process group, so a terminal's Ctrl-C
/// reaches only the parent, which then stops the server in order.
final class GuardedProcess {
    /// The program's process id.
    let pid: Int32
    /// Tells when the program exited.
    let monitor: ProcessExitMonitor
    private let process: Process

    private init(pid: Int32, monitor: ProcessExitMonitor, process: Process) {
        self.pid = pid
        self.monitor = monitor
        self.process = process
    }

    /// Starts a program.
    ///
    /// - Parameters:
    ///   - command: The command line, including any `setpriv … --` prefix.
    ///   - processName: The program's command name as the kernel reports it (`postgres`, `initdb`); the watchdog
    ///     signals the PID only while it still has that name.
    ///   - watchdog: The watchdog to register the PID with, if any.
    ///   - logPath: The file receiving the program's standard output and error (appended to).
    ///   - environment: The program's environment.
    static func launch(
        command: [String],
        processName: String,
        watchdog: Watchdog?,
        logPath: String,
        environment: [String: String]
    ) throws -> GuardedProcess {
        let logDescriptor = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        guard logDescriptor >= 0 else {
            throw POSIXCallError(call: "open(\(logPath))", errno: errno)
        }
        let log = FileHandle(fileDescriptor: logDescriptor, closeOnDealloc: true)
        defer { try? log.close() }

        let monitor = ProcessExitMonitor()
        let process = Process()
        process.environment = environment
        process.standardOutput = log
        process.standardError = log
        process.terminationHandler = { finished in
            monitor.markExited(status: finished.terminationStatus, signalled: finished.terminationReason == .uncaughtSignal)
        }

        guard let watchdog else {
            process.standardInput = FileHandle.nullDevice
            process.executableURL = URL(fileURLWithPath: command[0])
            process.arguments = Array(command.dropFirst())
            try process.run()
            return GuardedProcess(pid: process.processIdentifier, monitor: monitor, process: process)
        }

        var gate: [Int32] = [-1, -1]
        #if canImport(Darwin)
        let status = socketpair(AF_UNIX, SOCK_STREAM, 0, &gate)
        #else
        let status = socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &gate)
        #endif
        guard status == 0 else {
            throw POSIXCallError(call: "socketpair", errno: errno)
        }
        POSIX.setCloseOnExec(gate[0])
        POSIX.setCloseOnExec(gate[1])
        defer { close(gate[0]) }

        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", Self.gateScript, "redress-launcher"] + command
        process.standardInput = FileHandle(fileDescriptor: gate[1], closeOnDealloc: false)
        do {
            try process.run()
        } catch {
            close(gate[1])
            throw error
        }
        close(gate[1])

        let pid = process.processIdentifier
        watchdog.guardProcess(pid: pid, processName: processName)
        Watchdog.sendLine("go", to: gate[0])
        return GuardedProcess(pid: pid, monitor: monitor, process: process)
    }

    /// Whether the program is still running.
    var isRunning: Bool {
        self.monitor.exitStatus == nil
    }

    /// Sends `signal` to the program unless it has already exited. (Foundation reaps the process just before it
    /// reports the exit; a PID could only be recycled in that instant after a full wrap-around of PID numbers.)
    func signal(_ signal: Int32) {
        if self.isRunning {
            kill(self.pid, signal)
        }
    }

    /// Whether `pid` is a live (not zombie) process.
    static func isAlive(_ pid: Int32) -> Bool {
        guard pid > 0 else { return false }
        #if os(Linux)
        guard let stat = POSIX.readSmallFile("/proc/\(pid)/stat"), let closing = stat.lastIndex(of: ")") else {
            return false
        }
        let state = stat[stat.index(after: closing)...].drop(while: { $0 == " " }).first
        return state != "Z" && state != "X"
        #else
        return POSIX.processExists(pid)
        #endif
    }

    /// Runs the command once a `go` line arrives; exits without running it on EOF (the parent died first).
    private static let gateScript = #"""
        IFS= read -r go || exit 70
        [ "$go" = go ] || exit 70
        exec "$@" </dev/null
        """#
}
