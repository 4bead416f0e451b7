#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Thin wrappers over the few POSIX calls ComplaintStore needs (users, signals, ports, ownership).
enum POSIX {
    /// An operating-system account.
    struct User: Sendable, Hashable {
        var name: String
        var uid: UInt32
        var gid: UInt32
    }

    /// Whether this process runs with an effective user id of 0.
    static var isRoot: Bool { geteuid() == 0 }

    /// The account this process runs as, if it has a passwd entry.
    static func currentUser() -> User? {
        self.lookUpUser(uid: geteuid())
    }

    /// The account with login `name`, if any.
    static func lookUpUser(named name: String) -> User? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        let status = getpwnam_r(name, &entry, &buffer, buffer.count, &result)
        guard status == 0, result != nil else { return nil }
        return User(name: name, uid: UInt32(entry.pw_uid), gid: UInt32(entry.pw_gid))
    }

    /// The account with user id `uid`, if any.
    static func lookUpUser(uid: uid_t) -> User? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        let status = getpwuid_r(uid, &entry, &buffer, buffer.count, &result)
        guard status == 0, result != nil, let namePointer = entry.pw_name else { return nil }
        return User(name: String(cString: namePointer), uid: UInt32(entry.pw_uid), gid: UInt32(entry.pw_gid))
    }

    /// Whether a process with `pid` exists (it may be a zombie).
    static func processExists(_ pid: Int32) -> Bool {
        guard pid > 0 else { return false }
        if kill(pid, 0) == 0 { return true }
        return errno == EPERM
    }

    /// Sends `signal` to `pid`; returns `false` if the process does not exist.
    @discardableResult
    static func send(_ signal: Int32, to pid: Int32) -> Bool {
        guard pid > 0 else { return false }
        return kill(pid, signal) == 0
    }

    /// The short command name of `pid` (`/proc/<pid>/comm`), on Linux.
    static func commandName(of pid: Int32) -> String? {
        guard let text = readSmallFile("/proc/\(pid)/comm") else { return nil }
        return text.trimmingTrailingNewlines()
    }

    /// The ids of the live direct children of `pid` (from `/proc`), on Linux.
    static func childProcesses(of pid: Int32) -> [Int32] {
        guard let directory = opendir("/proc") else { return [] }
        defer { closedir(directory) }
        var children: [Int32] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard let candidate = Int32(name),
                let stat = readSmallFile("/proc/\(candidate)/stat"),
                let closing = stat.lastIndex(of: ")")
            else { continue }
            // Fields after the command name: state, ppid, …
            let fields = stat[stat.index(after: closing)...].split(separator: " ")
            if fields.count > 1, Int32(fields[1]) == pid {
                children.append(candidate)
            }
        }
        return children
    }

    /// Reads a small text file in one go, returning `nil` if it cannot be opened.
    static func readSmallFile(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Changes the owner of `path` (not following symbolic links).
    static func changeOwner(of path: String, to user: User) throws(POSIXCallError) {
        guard lchown(path, uid_t(user.uid), gid_t(user.gid)) == 0 else {
            throw POSIXCallError(call: "lchown(\(path))", errno: errno)
        }
    }

    /// Asks the kernel for a currently unused TCP port on 127.0.0.1.
    ///
    /// The port is free when this returns; another process could take it before the caller binds it, so callers
    /// retry with a new port when binding fails.
    static func unusedLoopbackPort() throws(POSIXCallError) -> Int {
        #if canImport(Darwin)
        let descriptor = socket(AF_INET, SOCK_STREAM, 0)
        #else
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #endif
        guard descriptor >= 0 else { throw POSIXCallError(call: "socket", errno: errno) }
        defer { close(descriptor) }

        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bindStatus = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bindStatus == 0 else { throw POSIXCallError(call: "bind", errno: errno) }

        var bound = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let nameStatus = withUnsafeMutablePointer(to: &bound) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getsockname(descriptor, $0, &length)
            }
        }
        guard nameStatus == 0 else { throw POSIXCallError(call: "getsockname", errno: errno) }
        return Int(UInt16(bigEndian: bound.sin_port))
    }

    /// Marks `descriptor` close-on-exec so that child processes never inherit it.
    static func setCloseOnExec(_ descriptor: Int32) {
        let flags = fcntl(descriptor, F_GETFD)
        if flags >= 0 {
            _ = fcntl(descriptor, F_SETFD, flags | FD_CLOEXEC)
        }
    }

    /// The maximum length of a Unix-domain socket path, including the terminating NUL.
    static var maximumSocketPathLength: Int {
        MemoryLayout.size(ofValue: sockaddr_un().sun_path)
    }

    /// Searches `PATH` for an executable called `name`.
    static func findInPath(_ name: String, path: String?) -> String? {
        guard let path else { return nil }
        for directory in path.split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(name)"
            if access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        return nil
    }

    /// Whether `path` names an executable file.
    static func isExecutable(_ path: String) -> Bool {
        access(path, X_OK) == 0
    }
}
