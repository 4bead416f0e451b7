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

/// A process a test started (a service replica, an SMTP server): its output goes to a log file the test
/// can show on failure, and ``stop()`` (always call it, in a `defer`) leaves nothing running.
public final class ChildProcess: @unchecked Sendable {
    public let process = Process()
    /// Standard output and error together.
    public let logURL: URL
    /// The child's standard input, when it was started `interactive` (a browser driver waiting for commands).
    public let input: FileHandle?

    /// Starts `executable` with `arguments` and `environment` (added to this process's environment); an
    /// `interactive` child reads its standard input from ``send(_:)``.
    public init(
        _ executable: URL, arguments: [String] = [], environment: [String: String] = [:], removing: [String] = [], interactive: Bool = false
    ) throws {
        logURL = FileManager.default.temporaryDirectory.appendingPathComponent("\(executable.lastPathComponent)-\(UUID().uuidString.prefix(8)).log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let log = try FileHandle(forWritingTo: logURL)
        process.executableURL = executable
        process.arguments = arguments
        var merged = ProcessInfo.processInfo.environment
        for name in removing { merged[name] = nil }
        merged.merge(environment) { _, new in new }
        process.environment = merged
        process.standardOutput = log
        process.standardError = log
        if interactive {
            let pipe = Pipe()
            process.standardInput = pipe
            input = pipe.fileHandleForWriting
        } else {
            input = nil
        }
        try process.run()
    }

    /// Writes `line` and a newline to the child's standard input (an `interactive` child only).
    public func send(_ line: String) throws {
        try input?.write(contentsOf: Data((line + "\n").utf8))
    }

    public var identifier: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }

    /// What it printed so far.
    public var output: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    /// SIGKILL: no shutdown, no flushing, as a crash or an OOM kill would end it.
    ///
    /// Waits at most `patience` for Foundation to see the end: it watches a socket the child's own
    /// children inherit, so with a grandchild still alive (a server the child started) `waitUntilExit`
    /// would wait for that one too, and a test's clean-up would hang the whole run.
    public func kill(patience: TimeInterval = 10) {
        guard process.isRunning else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        let deadline = Date().addingTimeInterval(patience)
        while process.isRunning && Date() < deadline { usleep(20_000) }
    }

    /// SIGTERM, up to `grace` to stop, then SIGKILL; removes the log.
    public func stop(grace: TimeInterval = 20) {
        // An interactive child sees the end of its input first: most stop on that alone.
        try? input?.close()
        if input != nil, process.isRunning {
            let deadline = Date().addingTimeInterval(5)
            while process.isRunning && Date() < deadline { usleep(20_000) }
        }
        if process.isRunning {
            process.terminate()
            let deadline = Date().addingTimeInterval(grace)
            while process.isRunning && Date() < deadline { usleep(20_000) }
            kill()
        }
        try? FileManager.default.removeItem(at: logURL)
    }
}

/// A loopback TCP port nothing listens on right now (the kernel's pick), for a child process that needs
/// a fixed port number.
public func unusedLoopbackPort() throws -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw POSIXError(.EMFILE) }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0 }
    }
    guard bound else { throw POSIXError(.EADDRINUSE) }
    return Int(UInt16(bigEndian: address.sin_port))
}
