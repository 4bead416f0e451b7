import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Stops embedded servers when this process exits normally (`exit()`, or returning from `main`), synchronously,
/// so that when a test run or `redress up` has ended no server is left shutting down behind it.
///
/// This complements each instance's ``Watchdog``, which covers the abnormal ends (a crash, `SIGKILL`) that skip
/// `atexit` handlers.
enum ServerExitGuard {
    /// What to clean up for one running server.
    struct Entry: Sendable {
        var pid: Int32
        /// Dismissed before stopping, so that it does not race us.
        var watchdog: Watchdog?
        var temporaryDirectory: String?
    }

    private static let entries = Mutex<[Int: Entry]>([:])
    private static let temporaryDirectories = Mutex<Set<String>>([])
    private static let nextToken = Atomic<Int>(1)
    private static let installed: Bool = {
        atexit {
            ServerExitGuard.stopAll()
        }
        return true
    }()

    /// Registers a running server; returns the token to unregister it with.
    static func register(_ entry: Entry) -> Int {
        _ = self.installed
        let token = self.nextToken.add(1, ordering: .relaxed).oldValue
        self.entries.withLock { $0[token] = entry }
        return token
    }

    /// Forgets a server that was stopped the normal way.
    static func unregister(_ token: Int) {
        _ = self.entries.withLock { $0.removeValue(forKey: token) }
    }

    /// Registers a temporary folder to delete at exit even if its server is not running (a failed start, an
    /// instance never torn down).
    static func registerTemporaryDirectory(_ path: String) {
        _ = self.installed
        _ = self.temporaryDirectories.withLock { $0.insert(path) }
    }

    /// Forgets a temporary folder that was deleted the normal way.
    static func unregisterTemporaryDirectory(_ path: String) {
        _ = self.temporaryDirectories.withLock { $0.remove(path) }
    }

    private static func stopAll() {
        let entries = self.entries.withLock { entries -> [Entry] in
            defer { entries.removeAll() }
            return Array(entries.values)
        }
        for entry in entries {
            entry.watchdog?.standDown()
            if GuardedProcess.isAlive(entry.pid) {
                kill(entry.pid, SIGINT)
            }
        }
        // Fast shutdown normally takes well under a second; give up after 15 s and kill.
        for entry in entries {
            var waited = 0
            while GuardedProcess.isAlive(entry.pid) && waited < 1500 {
                usleep(10_000)
                waited += 1
            }
            if GuardedProcess.isAlive(entry.pid) {
                kill(entry.pid, SIGKILL)
            }
            if let directory = entry.temporaryDirectory {
                try? FileManager.default.removeItem(atPath: directory)
            }
        }
        let directories = self.temporaryDirectories.withLock { directories -> Set<String> in
            defer { directories.removeAll() }
            return directories
        }
        for directory in directories {
            try? FileManager.default.removeItem(atPath: directory)
        }
    }
}
