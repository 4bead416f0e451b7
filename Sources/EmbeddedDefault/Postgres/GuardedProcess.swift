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
/// So the PID of the launched shell *is* the program's (for the server, the postmaster's, as in `postmaster.pid`),
/// and if this process dies before `go`, the shell reads EOF and exits without starting anything: there is no instant
/// in which the program runs unwatched. Started through ``LaunchedProgram`` (not Foundation's `Process`, whose start
/// can crash a process holding many descriptors), each child leads its own process group, so a terminal's Ctrl-C
/// reaches only the parent, which then stops the server in order. Released, the child keeps running, as the server
/// must until it is stopped in order; it is reaped when it exits.
final class GuardedProcess {
    /// The program's process id.
    let pid: Int32
    /// The launched program: its exit, and the waits for it.
    let program: LaunchedProgram

    private init(program: LaunchedProgram) {
        self.pid = program.pid
        self.program = program
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
    ) async throws -> GuardedProcess {
        let logDescriptor = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        guard logDescriptor >= 0 else {
            throw POSIXCallError(call: "open(\(logPath))", errno: errno)
        }
        defer { close(logDescriptor) }
        let variables = environment.mapValues { Optional($0) }

        guard let watchdog else {
            let program = try await LaunchedProgram.launch(
                command[0], arguments: Array(command.dropFirst()), environment: variables, inheritingEnvironment: false,
                output: .descriptor(logDescriptor), error: .descriptor(logDescriptor), outlivesOwner: true)
            return GuardedProcess(program: program)
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

        let program: LaunchedProgram
        do {
            program = try await LaunchedProgram.launch(
                "/bin/sh", arguments: ["-c", Self.gateScript, "redress-launcher"] + command, environment: variables,
                inheritingEnvironment: false, input: gate[1], output: .descriptor(logDescriptor), error: .descriptor(logDescriptor),
                outlivesOwner: true)
        } catch {
            close(gate[1])
            throw error
        }
        close(gate[1])

        watchdog.guardProcess(pid: program.pid, processName: processName)
        Watchdog.sendLine("go", to: gate[0])
        return GuardedProcess(program: program)
    }

    /// Whether the program is still running.
    var isRunning: Bool {
        self.program.isRunning
    }

    /// Sends `signal` to the program unless it has already exited (through its pidfd: never to a recycled PID).
    func signal(_ signal: Int32) {
        self.program.signal(signal)
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
