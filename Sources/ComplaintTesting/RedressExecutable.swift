import EmbeddedDefault
import Foundation

/// Finds the built executables (next to the test bundle in `.build/<configuration>/`), for tests that run
/// Redress as separate processes.
public enum RedressExecutable {
    /// The `redress` command.
    public static let url: URL? = named("redress")

    /// The built executable `name` (`redress-sla-watcher`, …), or `nil` when it was not built.
    public static func named(_ name: String) -> URL? {
        var directory = Bundle.main.bundleURL
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory.deleteLastPathComponent()
        }
        return nil
    }
}

/// A process a test started (a service replica, an SMTP server, a command whose exit the test checks): its
/// output goes to a log file the test can show on failure, and ``stop(grace:)`` (always call it, in a `defer`)
/// leaves nothing running. Started through ``LaunchedProgram`` (swift-subprocess), not Foundation's `Process`,
/// whose start can crash a test process holding many descriptors; released without a stop, it is killed.
public final class ChildProcess: Sendable {
    private let program: LaunchedProgram
    /// Standard output and error together.
    public let logURL: URL
    /// The child's standard input, when it was started `interactive` (a browser driver waiting for commands).
    public let input: FileHandle?

    /// Starts `executable` with `arguments` and `environment` (added to this process's environment, without the
    /// variables `removing` names), in `workingDirectory` if given; an `interactive` child reads its standard input
    /// from ``send(_:)``, any other from `/dev/null`. Returns once the child runs.
    public init(
        _ executable: URL, arguments: [String] = [], environment: [String: String] = [:], removing: [String] = [],
        workingDirectory: URL? = nil, interactive: Bool = false
    ) async throws {
        logURL = FileManager.default.temporaryDirectory.appendingPathComponent("\(executable.lastPathComponent)-\(UUID().uuidString.prefix(8)).log")
        let log = open(logURL.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard log >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        defer { close(log) }
        var changes: [String: String?] = [:]
        for name in removing { changes.updateValue(nil, forKey: name) }
        for (name, value) in environment { changes[name] = value }
        var readEnd: Int32?
        if interactive {
            var ends: [Int32] = [-1, -1]
            guard pipe(&ends) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EMFILE) }
            // Close-on-exec: children spawned meanwhile close every other descriptor anyway.
            for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
            readEnd = ends[0]
            input = FileHandle(fileDescriptor: ends[1], closeOnDealloc: true)
        } else {
            input = nil
        }
        defer { if let readEnd { close(readEnd) } }
        program = try await LaunchedProgram.launch(
            executable.path, arguments: arguments, environment: changes, workingDirectory: workingDirectory?.path, input: readEnd,
            output: .descriptor(log), error: .descriptor(log))
    }

    /// Writes `line` and a newline to the child's standard input (an `interactive` child only).
    public func send(_ line: String) throws {
        try input?.write(contentsOf: Data((line + "\n").utf8))
    }

    public var identifier: Int32 { program.pid }
    public var isRunning: Bool { program.isRunning }
    /// How it ended, once it has.
    public var exit: LaunchedProgram.Exit? { program.exit }
    /// Its exit status (the signal's number if a signal ended it); -1 while it runs.
    public var terminationStatus: Int32 { program.exit?.status ?? -1 }

    /// Waits until it exits or `timeout` passes (also from a cancelled task); how it ended, if it did.
    public func waitForExit(timeout: Duration = .seconds(60)) async -> LaunchedProgram.Exit? {
        await program.waitForExit(timeout: timeout)
    }

    /// What it printed so far.
    public var output: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    /// SIGKILL: no shutdown, no flushing, as a crash or an OOM kill would end it. Waits at most `patience`
    /// for the end (a grandchild still alive does not hold it up).
    public func kill(patience: Duration = .seconds(10)) async {
        guard program.signal(SIGKILL) else { return }
        _ = await program.waitForExit(timeout: patience)
    }

    /// SIGTERM, up to `grace` to stop, then SIGKILL; removes the log. An interactive child sees the end of its
    /// input first (most stop on that alone) and gets 5 s for it.
    ///
    /// Synchronous, for the `defer` that must call it (a `defer` cannot await): ``LaunchedProgram/stopBlocking(grace:)``,
    /// which blocks this thread until the child has ended (waiting on its pidfd, for no thread of the task pool).
    public func stop(grace: Duration = .seconds(20)) {
        if let input {
            try? input.close()
            _ = program.waitForExitBlocking(timeout: .seconds(5))
        }
        program.stopBlocking(grace: grace)
        try? FileManager.default.removeItem(at: logURL)
    }
}

/// A loopback TCP port nothing listens on right now (the kernel's pick), for a child process that needs
/// a fixed port number.
public func unusedLoopbackPort() throws -> Int {
    try RefusingLoopbackPort().port
}

/// A loopback port that refuses connections, held until released: a TCP socket bound to it but not
/// listening, so the kernel answers a connection with a reset and gives the port to no one else (a port
/// found free and closed again could be handed to the next server bound to port 0).
public final class RefusingLoopbackPort: Sendable {
    public let port: Int
    private let descriptor: Int32

    public init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw POSIXError(.EMFILE) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0 }
        }
        guard bound else {
            close(descriptor)
            throw POSIXError(.EADDRINUSE)
        }
        self.descriptor = descriptor
        self.port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(descriptor) }
}
