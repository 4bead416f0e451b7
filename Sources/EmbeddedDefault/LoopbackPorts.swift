#if canImport(Glibc)
import Glibc
#endif

/// Checks fixed loopback ports before `redress up` starts anything: a port another stack still holds
/// (a demo left running) would make the new services crash-loop while the banner said "up", and the
/// demo would talk to the other stack's intake.
public enum LoopbackPorts {
    /// Those of `ports` that something already listens on at 127.0.0.1.
    public static func taken(_ ports: [Int]) -> [Int] {
        ports.filter { !isFree($0) }
    }

    /// Whether 127.0.0.1:`port` can be bound now (TIME_WAIT leftovers do not count: SO_REUSEADDR).
    public static func isFree(_ port: Int) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return true }
        defer { close(descriptor) }
        var yes: Int32 = 1
        _ = setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        return bound == 0
    }
}
