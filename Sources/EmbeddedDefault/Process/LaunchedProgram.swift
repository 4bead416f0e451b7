import Foundation
import Subprocess
import Synchronization

#if canImport(System)
import System
#else
import SystemPackage
#endif

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A long-running child process (a supervised service, PostgreSQL, a test's helper program), started through
/// swift-subprocess instead of Foundation's `Process`.
///
/// Foundation's `Process.run()` in our toolchain (Swift 6.3.1) lists `/proc/self/fd` with a copy that over-reads
/// glibc's readdir buffer and can crash the whole process once about 1,340 descriptors are open
/// (swift-corelibs-foundation #5472). swift-subprocess spawns with `posix_spawn` and a
/// `posix_spawn_file_actions_addclosefrom_np(3)` action (glibc: `close_range`), listing nothing in this process.
///
/// The child runs inside `Subprocess.run` in a task of its own, which reaps it whatever happens and records its
/// exit. When the last reference to the value goes away, that task is cancelled, which SIGKILLs the child unless
/// it was launched with `outlivesOwner` (a watchdog that must see this process's end). Like Foundation's `Process`,
/// the child leads a process group of its own, so a terminal's Ctrl-C reaches only this process, which then stops
/// its children in order.
public final class LaunchedProgram: Sendable {
    /// How a child ended.
    public struct Exit: Sendable, Hashable, CustomStringConvertible {
        /// The exit status, or the signal number if ``signalled``.
        public var status: Int32
        /// Whether a signal ended it.
        public var signalled: Bool

        public init(status: Int32, signalled: Bool) {
            self.status = status
            self.signalled = signalled
        }

        /// Exited with status 0.
        public var succeeded: Bool { !signalled && status == 0 }

        public var description: String {
            signalled ? "killed by signal \(status)" : "exited with status \(status)"
        }
    }

    /// Where the child's standard output goes.
    public enum Output: Sendable {
        /// Nowhere (`/dev/null`).
        case discarded
        /// A descriptor the caller owns (a log file): it may close it once ``launch(_:arguments:environment:inheritingEnvironment:workingDirectory:input:output:error:outlivesOwner:)`` returns.
        case descriptor(Int32)
        /// Each line (without its line break) handed to the closure as it comes, on a task of the child's.
        case lines(@Sendable (String) -> Void)
    }

    /// The child's process id.
    public let pid: Int32

    private let core: Core
    private let runner: Task<Void, Never>
    private let outlivesOwner: Bool

    private init(pid: Int32, core: Core, runner: Task<Void, Never>, outlivesOwner: Bool) {
        self.pid = pid
        self.core = core
        self.runner = runner
        self.outlivesOwner = outlivesOwner
    }

    deinit {
        if !outlivesOwner { runner.cancel() }
    }

    /// Starts `executable` (a path, or a name looked up in `PATH`) and returns once it has been exec'd.
    ///
    /// - Parameters:
    ///   - environment: Variables set (a nil value removes one) on top of this process's environment, or, with
    ///     `inheritingEnvironment` false, the whole environment.
    ///   - input: A descriptor to read standard input from (the caller keeps and closes it); `nil`: `/dev/null`.
    ///   - outlivesOwner: Leave the child running when this value is released (it is still reaped when it exits).
    public static func launch(
        _ executable: String, arguments: [String] = [], environment: [String: String?] = [:], inheritingEnvironment: Bool = true,
        workingDirectory: String? = nil, input: Int32? = nil, output: Output = .discarded, error: Output = .discarded,
        outlivesOwner: Bool = false
    ) async throws -> LaunchedProgram {
        var keys: [Environment.Key: String?] = [:]
        for (name, value) in environment { keys[Environment.Key(stringLiteral: name)] = value }
        let childEnvironment: Environment =
            inheritingEnvironment ? .inherit.updating(keys) : .custom(keys.compactMapValues { $0 })
        var options = PlatformOptions()
        options.processGroupID = 0
        let configuration = Configuration(
            executable: executable.contains("/") ? .path(FilePath(executable)) : .name(executable), arguments: Arguments(arguments),
            environment: childEnvironment, workingDirectory: workingDirectory.map { FilePath($0) }, platformOptions: options)

        // Descriptors for /dev/null, closed once the child has them.
        var opened: [Int32] = []
        defer { for descriptor in opened { close(descriptor) } }
        func nullDevice() throws -> Int32 {
            let descriptor = open("/dev/null", O_RDWR | O_CLOEXEC)
            guard descriptor >= 0 else { throw POSIXCallError(call: "open(/dev/null)", errno: errno) }
            opened.append(descriptor)
            return descriptor
        }
        let inputDescriptor = try input ?? nullDevice()
        var lines: (@Sendable (String) -> Void)?
        let outputDescriptor: Int32?
        switch output {
        case .discarded: outputDescriptor = try nullDevice()
        case .descriptor(let descriptor): outputDescriptor = descriptor
        case .lines(let handler): outputDescriptor = nil; lines = handler
        }
        let errorDescriptor: Int32
        switch error {
        case .discarded: errorDescriptor = try nullDevice()
        case .descriptor(let descriptor): errorDescriptor = descriptor
        case .lines: throw POSIXCallError(call: "launch(\(executable)): standard error as lines", errno: EINVAL)
        }

        let core = Core()
        let runner = Task.detached {
            do {
                let standardInput = FileDescriptorInput.fileDescriptor(FileDescriptor(rawValue: inputDescriptor), closeAfterSpawningProcess: false)
                let standardError = FileDescriptorOutput.fileDescriptor(FileDescriptor(rawValue: errorDescriptor), closeAfterSpawningProcess: false)
                let status: TerminationStatus
                if let outputDescriptor {
                    status = try await Subprocess.run(
                        configuration, input: standardInput,
                        output: .fileDescriptor(FileDescriptor(rawValue: outputDescriptor), closeAfterSpawningProcess: false),
                        error: standardError
                    ) { execution in
                        core.started(execution.processIdentifier)
                    }.terminationStatus
                } else {
                    status = try await Subprocess.run(configuration, input: standardInput, output: .sequence, error: standardError) { execution in
                        core.started(execution.processIdentifier)
                        // Ends at the end of the output, or when the child exits (even if a grandchild holds the pipe).
                        do {
                            for try await line in execution.standardOutput.strings() { lines?(line) }
                        } catch {}
                    }.terminationStatus
                }
                switch status {
                case .exited(let code): core.exited(Exit(status: code, signalled: false))
                case .signaled(let signal): core.exited(Exit(status: signal, signalled: true))
                }
            } catch {
                // Not started: the launch throws it. Started, then failed to monitor: its end is unknown.
                core.failed(error)
            }
        }
        do {
            let pid = try await core.launched()
            return LaunchedProgram(pid: pid, core: core, runner: runner, outlivesOwner: outlivesOwner)
        } catch {
            runner.cancel()
            throw error
        }
    }

    /// The exit, once the child has been reaped.
    public var exit: Exit? { core.exit }

    /// Whether the child has not been reaped yet.
    public var isRunning: Bool { core.exit == nil }

    /// Sends `signal` to the child unless it has exited; through its pidfd, so never to a recycled PID.
    @discardableResult
    public func signal(_ signal: Int32) -> Bool { core.signal(signal, pid: pid) }

    /// Waits for the exit; `nil` if the calling task is cancelled first.
    public func exited() async -> Exit? { await core.exited() }

    /// Waits until the child exits or `timeout` passes; returns its exit, if it came.
    ///
    /// The wait deliberately ignores the caller's cancellation (it runs in its own task): stopping a child from a
    /// cancelled task, as clean-up code does, must still wait for the child to be gone.
    public func waitForExit(timeout: Duration) async -> Exit? {
        await Task {
            await withTaskGroup(of: Exit?.self) { group in
                group.addTask { await self.exited() }
                group.addTask {
                    try? await Task.sleep(for: timeout)
                    return nil
                }
                let first = await group.next() ?? nil
                group.cancelAll()
                return first ?? self.exit
            }
        }.value
    }

    /// Blocks this thread until the child ends or `timeout` passes; its exit, if it came (a child ended but not yet
    /// reaped by its task reports the same exit).
    ///
    /// For code that cannot await (a `defer`, a `deinit`). It waits on the child's pidfd (`poll(2)`) and reads the
    /// exit without reaping the child (`waitid` with `WNOWAIT`): it waits for no other thread, not even one of the
    /// task pool to record the exit, so it returns within `timeout` also on a cooperative thread of a busy pool.
    public func waitForExitBlocking(timeout: Duration) -> Exit? {
        core.waitBlocking(timeout: timeout, pid: pid)
    }

    /// SIGTERM, up to `grace` to exit, then SIGKILL and at most 10 s more for the end; the exit, if it came. A
    /// child that has already ended is not signalled. Blocking (see ``waitForExitBlocking(timeout:)``), for a
    /// `defer` or `deinit`; the one stop sequence, which ``stop(grace:)`` runs on a thread of its own.
    @discardableResult
    public func stopBlocking(grace: Duration) -> Exit? {
        if let exit = waitForExitBlocking(timeout: .zero) { return exit }
        signal(SIGTERM)
        if let exit = waitForExitBlocking(timeout: grace) { return exit }
        signal(SIGKILL)
        return waitForExitBlocking(timeout: .seconds(10))
    }

    /// ``stopBlocking(grace:)`` on a thread of its own, so that no thread of the task pool waits for the child;
    /// then, if the child ended, up to 10 s for its task to reap it. The exit. Not cut short by the caller's
    /// cancellation: stopping a child from a cancelled task, as clean-up code does, must still see it gone.
    @discardableResult
    public func stop(grace: Duration) async -> Exit? {
        let ended = await withCheckedContinuation { (continuation: CheckedContinuation<Exit?, Never>) in
            Thread.detachNewThread { continuation.resume(returning: self.stopBlocking(grace: grace)) }
        }
        guard let ended else { return nil }
        return await waitForExit(timeout: .seconds(10)) ?? ended
    }

    private typealias PidfdSendSignal = @convention(c) (Int32, Int32, UnsafeMutableRawPointer?, UInt32) -> Int32

    /// glibc's `pidfd_send_signal` (2.36 on), not in Swift's Glibc module.
    private static let pidfdSendSignal: PidfdSendSignal? = {
        #if os(Linux)
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "pidfd_send_signal") else { return nil }
        return unsafeBitCast(symbol, to: PidfdSendSignal.self)
        #else
        return nil
        #endif
    }()

    /// What the child's task shares with the program and its waiters; the task holds this, never the program,
    /// whose release kills the child.
    private final class Core: Sendable {
        private struct State {
            var launch: Result<Int32, any Error>?
            var launchWaiter: CheckedContinuation<Int32, any Error>?
            var exit: Exit?
            var waiters: [Int: CheckedContinuation<Exit?, Never>] = [:]
            var cancelledWaiters: Set<Int> = []
            var nextWaiter = 0
            /// A duplicate of the child's pidfd, signalled instead of the PID (never a recycled one); -1 if none.
            var processDescriptor: Int32 = -1
            /// The exit a blocking waiter read before the child's task recorded it.
            var peeked: Exit?
            /// A blocking waiter found the child reaped before its exit was recorded: it has ended, its status is
            /// on its way, and it is never signalled again (its PID may already be another process's).
            var reaped = false
        }

        private let state = Mutex(State())

        deinit {
            let descriptor = state.withLock { $0.processDescriptor }
            if descriptor >= 0 { close(descriptor) }
        }

        /// In the body of `Subprocess.run`: the child has been exec'd and is not reaped before the body returns.
        func started(_ identifier: ProcessIdentifier) {
            #if os(Linux) || os(Android) || os(FreeBSD)
            let descriptor = identifier.processDescriptor >= 0 ? fcntl(identifier.processDescriptor, F_DUPFD_CLOEXEC, 0) : -1
            #else
            let descriptor: Int32 = -1
            #endif
            let waiter = state.withLock { state in
                state.processDescriptor = descriptor
                state.launch = .success(identifier.value)
                return state.launchWaiter.take()
            }
            waiter?.resume(returning: identifier.value)
        }

        /// `Subprocess.run` threw: before the start, the launch fails; after it, the end is unknown.
        func failed(_ error: any Error) {
            let (waiter, started) = state.withLock { state -> (CheckedContinuation<Int32, any Error>?, Bool) in
                guard state.launch == nil else { return (nil, true) }
                state.launch = .failure(error)
                return (state.launchWaiter.take(), false)
            }
            waiter?.resume(throwing: error)
            if started { exited(Exit(status: -1, signalled: false)) }
        }

        /// The child's PID once it runs, or the launch's error.
        func launched() async throws -> Int32 {
            try await withCheckedThrowingContinuation { continuation in
                let ready = state.withLock { state -> Result<Int32, any Error>? in
                    if let launch = state.launch { return launch }
                    state.launchWaiter = continuation
                    return nil
                }
                if let ready { continuation.resume(with: ready) }
            }
        }

        var exit: Exit? { state.withLock { $0.exit } }

        func signal(_ signal: Int32, pid: Int32) -> Bool {
            state.withLock { state in
                guard state.exit == nil, state.peeked == nil, !state.reaped else { return false }
                if state.processDescriptor >= 0, let send = LaunchedProgram.pidfdSendSignal {
                    return send(state.processDescriptor, signal, nil, 0) == 0
                }
                return kill(pid, signal) == 0
            }
        }

        /// Blocks until the child ended (reaped, or a zombie) or `timeout` passed; its exit, read without reaping it.
        func waitBlocking(timeout: Duration, pid: Int32) -> Exit? {
            let deadline = ContinuousClock.now + timeout
            // A duplicate of our own: the child's task closes the shared pidfd once it reaps the child.
            let (known, descriptor, hadDescriptor) = state.withLock { state -> (Exit?, Int32, Bool) in
                if let exit = state.exit ?? state.peeked { return (exit, -1, false) }
                guard state.processDescriptor >= 0 else { return (nil, -1, false) }
                return (nil, fcntl(state.processDescriptor, F_DUPFD_CLOEXEC, 0), true)
            }
            if let known { return known }
            defer { if descriptor >= 0 { close(descriptor) } }
            while true {
                if let exit = state.withLock({ $0.exit ?? $0.peeked }) { return exit }
                let left = deadline - ContinuousClock.now
                // A pidfd whose duplicate failed (no descriptor left) is not replaced by the PID, which may be
                // another child's once this one is reaped: only the recorded exit is looked at then.
                let peek = hadDescriptor && descriptor < 0 ? .unknown : Self.peek(pid: pid, processDescriptor: descriptor)
                switch peek {
                case .ended(let exit):
                    state.withLock { $0.peeked = $0.peeked ?? exit }
                    return exit
                case .reaped:
                    state.withLock { $0.reaped = true }
                    if left <= .zero { return nil }
                    // Reaped by its task, which records the exit in a moment: look again shortly.
                    usleep(10_000)
                case .running where descriptor >= 0 && left > .zero:
                    // Readable once the child has ended; an interrupted poll just looks again.
                    var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
                    _ = poll(&entry, 1, Int32(min((left / .milliseconds(1)).rounded(.up), 60_000)))
                case .running where left > .zero, .unknown where left > .zero:
                    // No pidfd (a kernel before 5.3, or not Linux), or one `waitid` cannot wait on (before 5.4):
                    // look again shortly.
                    usleep(10_000)
                case .running, .unknown:
                    return nil
                }
            }
        }

        private enum Peek {
            case running
            /// Ended, not reaped yet (a zombie).
            case ended(Exit)
            /// Reaped by the child's task, its exit not recorded yet.
            case reaped
            /// `waitid` cannot tell (a pidfd on a kernel before 5.4): only the recorded exit says.
            case unknown
        }

        /// Whether the child has ended, read without reaping it (`WNOWAIT`): through its pidfd if there is one.
        private static func peek(pid: Int32, processDescriptor: Int32) -> Peek {
            var info = siginfo_t()
            #if os(Linux)
            let (kind, id) = processDescriptor >= 0 ? (idtype_t(rawValue: 3 /* P_PIDFD */), id_t(processDescriptor)) : (P_PID, id_t(pid))
            guard waitid(kind, id, &info, WEXITED | WNOHANG | WNOWAIT) == 0 else { return failure(errno) }
            let (child, status) = (info._sifields._sigchld.si_pid, info._sifields._sigchld.si_status)
            #else
            guard waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 else { return failure(errno) }
            let (child, status) = (info.si_pid, info.si_status)
            #endif
            guard child != 0 else { return .running }
            return .ended(Exit(status: status, signalled: info.si_code != CLD_EXITED))
        }

        /// What a failed `waitid` says: interrupted, look again; no such child, reaped; anything else, unknown.
        private static func failure(_ error: Int32) -> Peek {
            switch error {
            case EINTR: .running
            case ECHILD: .reaped
            default: .unknown
            }
        }

        func exited() async -> Exit? {
            let id = state.withLock { state -> Int in
                state.nextWaiter += 1
                return state.nextWaiter
            }
            return await withTaskCancellationHandler {
                await withCheckedContinuation { continuation in
                    let now = state.withLock { state -> Exit?? in
                        if let exit = state.exit { return .some(exit) }
                        if state.cancelledWaiters.remove(id) != nil { return .some(nil) }
                        state.waiters[id] = continuation
                        return nil
                    }
                    if let now { continuation.resume(returning: now) }
                }
            } onCancel: {
                let waiter = state.withLock { state in
                    let waiter = state.waiters.removeValue(forKey: id)
                    if waiter == nil && state.exit == nil { state.cancelledWaiters.insert(id) }
                    return waiter
                }
                waiter?.resume(returning: nil)
            }
        }

        /// Records the exit (the child has been reaped) and wakes the waiters.
        func exited(_ exit: Exit) {
            let waiters = state.withLock { state in
                state.exit = exit
                let waiters = Array(state.waiters.values)
                state.waiters = [:]
                state.cancelledWaiters = []
                if state.processDescriptor >= 0 {
                    close(state.processDescriptor)
                    state.processDescriptor = -1
                }
                return waiters
            }
            for waiter in waiters { waiter.resume(returning: exit) }
        }
    }
}
