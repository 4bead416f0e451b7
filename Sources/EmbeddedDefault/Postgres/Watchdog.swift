import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A tiny `/bin/sh` process that outlives this one just long enough to clean up after it: it stops the embedded
/// server (or `initdb`) this process left running and deletes the temporary data folder.
///
/// Its standard input is one end of a socket pair; only this process holds the other end (close-on-exec). Over it
/// the watchdog is told which PID to guard (`pid N name`), that the PID is gone (`clear`), or that all is done
/// (`stop`). When this process ends for any reason — including `SIGKILL` or a crash, which skip every handler — the
/// kernel closes our end, and the watchdog reads EOF: it sends the guarded PID `SIGINT` (fast shutdown; `initdb`
/// cleans up), waits up to 15 s, then `SIGKILL`, and removes the cleanup folder. One watchdog serves an
/// ``EmbeddedPostgres`` instance for its whole life, across restarts, so the temporary folder is never unguarded.
///
/// The watchdog is a separate child of this process (not a background job of a launch script), in its own process
/// group, ignoring terminal signals; started through ``LaunchedProgram`` (not Foundation's `Process`, whose start can
/// crash a process holding many descriptors), and left running when released: it must outlive this process.
final class Watchdog: Sendable {
    /// Our end of the lifeline; -1 once closed.
    private let lifeline: Mutex<Int32>
    /// Kept only so that the watchdog's exit is known.
    private let process: LaunchedProgram

    private init(lifeline: Int32, process: LaunchedProgram) {
        self.lifeline = Mutex(lifeline)
        self.process = process
    }

    deinit {
        let descriptor = self.lifeline.withLock { $0 }
        if descriptor >= 0 {
            close(descriptor)
        }
    }

    /// Starts a watchdog that removes `cleanupDirectory` (if any) after this process dies.
    static func start(cleanupDirectory: String?) async throws -> Watchdog {
        var descriptors: [Int32] = [-1, -1]
        #if canImport(Darwin)
        let status = socketpair(AF_UNIX, SOCK_STREAM, 0, &descriptors)
        #else
        let status = socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &descriptors)
        #endif
        guard status == 0 else {
            throw POSIXCallError(call: "socketpair", errno: errno)
        }
        POSIX.setCloseOnExec(descriptors[0])
        POSIX.setCloseOnExec(descriptors[1])

        let process: LaunchedProgram
        do {
            process = try await LaunchedProgram.launch(
                "/bin/sh", arguments: ["-c", Self.script, "redress-watchdog", cleanupDirectory ?? ""], input: descriptors[1],
                outlivesOwner: true)
        } catch {
            close(descriptors[0])
            close(descriptors[1])
            throw error
        }
        close(descriptors[1])
        return Watchdog(lifeline: descriptors[0], process: process)
    }

    /// Guards `pid`, whose kernel command name is `processName` (`postgres`, `initdb`).
    func guardProcess(pid: Int32, processName: String) {
        self.post("pid \(pid) \(processName)")
    }

    /// Forgets the guarded PID (it exited, or was stopped on purpose), so that a recycled PID is never signalled.
    func release() {
        self.post("clear")
    }

    /// Dismisses the watchdog: it exits without touching anything.
    func standDown() {
        self.lifeline.withLock { descriptor in
            guard descriptor >= 0 else { return }
            Self.sendLine("stop", to: descriptor)
            close(descriptor)
            descriptor = -1
        }
    }

    /// Closes the lifeline without a word, exactly as the kernel does when this process dies. For tests.
    func abandon() {
        self.lifeline.withLock { descriptor in
            guard descriptor >= 0 else { return }
            close(descriptor)
            descriptor = -1
        }
    }

    private func post(_ line: String) {
        self.lifeline.withLock { descriptor in
            Self.sendLine(line, to: descriptor)
        }
    }

    /// Writes one line; safe if the reader is gone (no `SIGPIPE`).
    static func sendLine(_ line: String, to descriptor: Int32) {
        guard descriptor >= 0 else { return }
        let bytes = Array((line + "\n").utf8)
        #if canImport(Darwin)
        _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        #else
        _ = bytes.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        #endif
    }

    /// `$1` is the folder to remove once the guarded process is gone (may be empty).
    private static let script = #"""
        cleanup_dir="$1"; pid=""; name=""
        trap '' HUP INT TERM QUIT
        while IFS= read -r line; do
          case "$line" in
            "pid "*) set -- ${line#pid }; pid="$1"; name="$2" ;;
            clear) pid=""; name="" ;;
            stop) exit 0 ;;
          esac
        done
        # EOF without "stop": the parent process is gone.
        alive() { [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*[ZX]' "/proc/$1/status"; }
        if [ -n "$pid" ]; then
          # Signal only the guarded program (or its launch shell / setpriv, if the parent died just after "go").
          comm="$(cat "/proc/$pid/comm" 2>/dev/null)"
          if [ "$comm" = "$name" ] || [ "$comm" = sh ] || [ "$comm" = setpriv ]; then
            kill -INT "$pid" 2>/dev/null
            waited=0
            while [ "$waited" -lt 150 ] && alive "$pid"; do sleep 0.1; waited=$((waited + 1)); done
            kill -KILL "$pid" 2>/dev/null
            waited=0
            while [ "$waited" -lt 50 ] && alive "$pid"; do sleep 0.1; waited=$((waited + 1)); done
          fi
        fi
        if [ -n "$cleanup_dir" ]; then rm -rf -- "$cleanup_dir"; fi
        """#
}
