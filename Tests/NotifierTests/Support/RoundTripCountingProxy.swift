import ComplaintStore
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A loopback TCP proxy to the test database that counts the round trips its clients make: each
/// extended-protocol query ends with a Sync message (and a simple one is a Query message), so what
/// the pacer costs a delivery is counted on the wire, not by the code under test.
final class RoundTripCountingProxy: Sendable {
    /// The port it listens on, on 127.0.0.1.
    let port: Int
    private let listener: Int32
    private let target: DatabaseConfiguration.Endpoint
    private let state = Mutex((roundTrips: 0, sockets: [Int32](), pumpsEnded: [Int32: Int](), stopped: false))

    /// Listens on a free loopback port, forwarding each connection to `target`.
    init(to target: DatabaseConfiguration.Endpoint) throws {
        self.target = target
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let listening = descriptor >= 0 && withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, length) == 0 && listen(descriptor, 16) == 0 && getsockname(descriptor, $0, &length) == 0
            }
        }
        guard listening else {
            let error = POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
            if descriptor >= 0 { close(descriptor) }
            throw error
        }
        listener = descriptor
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread { self.acceptLoop() }
    }

    /// `configuration`, reaching its server through this proxy, in clear (the messages are read).
    func configuration(from configuration: DatabaseConfiguration) -> DatabaseConfiguration {
        var proxied = configuration
        proxied.endpoint = .tcp(host: "127.0.0.1", port: port)
        proxied.tlsMode = .disable
        return proxied
    }

    /// Queries sent so far by every client (Sync and Query messages).
    var roundTrips: Int { state.withLock { $0.roundTrips } }

    /// Stops listening and ends every connection.
    func stop() {
        let sockets = state.withLock { state -> [Int32] in
            state.stopped = true
            return state.sockets
        }
        Glibc.shutdown(listener, Int32(SHUT_RDWR))
        for socket in sockets { Glibc.shutdown(socket, Int32(SHUT_RDWR)) }
    }

    private func acceptLoop() {
        defer { close(listener) }
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return
            }
            guard let upstream = connectUpstream() else {
                close(client)
                continue
            }
            let admitted = state.withLock { state -> Bool in
                guard !state.stopped else { return false }
                state.sockets += [client, upstream]
                return true
            }
            guard admitted else {
                close(client)
                close(upstream)
                return
            }
            Thread.detachNewThread {
                var reader = FrontendMessages()
                self.pump(from: client, to: upstream) { bytes in
                    let queries = reader.read(bytes)
                    if queries > 0 { self.state.withLock { $0.roundTrips += queries } }
                }
                self.pumpEnded(client: client, upstream: upstream)
            }
            Thread.detachNewThread {
                self.pump(from: upstream, to: client) { _ in }
                self.pumpEnded(client: client, upstream: upstream)
            }
        }
    }

    /// One direction of a connection stopped: the other is woken; the last one closes both sockets.
    private func pumpEnded(client: Int32, upstream: Int32) {
        Glibc.shutdown(client, Int32(SHUT_RDWR))
        Glibc.shutdown(upstream, Int32(SHUT_RDWR))
        let last = state.withLock { state -> Bool in
            state.pumpsEnded[client, default: 0] += 1
            guard state.pumpsEnded[client] == 2 else { return false }
            state.pumpsEnded[client] = nil
            state.sockets.removeAll { $0 == client || $0 == upstream }
            return true
        }
        if last {
            close(client)
            close(upstream)
        }
    }

    /// Reads the client's side of the protocol: a startup message without a type byte, then typed messages.
    private struct FrontendMessages {
        private var pending: [UInt8] = []
        private var started = false

        /// Takes `bytes` in; returns how many Sync or Query messages they completed.
        mutating func read(_ bytes: ArraySlice<UInt8>) -> Int {
            pending += bytes
            var queries = 0
            var offset = 0
            while true {
                let header = started ? 5 : 4
                guard pending.count - offset >= header else { break }
                let at = started ? offset + 1 : offset
                let length = Int(pending[at]) << 24 | Int(pending[at + 1]) << 16 | Int(pending[at + 2]) << 8 | Int(pending[at + 3])
                let size = started ? length + 1 : length
                guard pending.count - offset >= size else { break }
                if started {
                    if pending[offset] == UInt8(ascii: "S") || pending[offset] == UInt8(ascii: "Q") { queries += 1 }
                } else if length == 8 && pending[offset + 4] == 0x04 && pending[offset + 5] == 0xd2 {
                    // An SSL or GSS encryption request: the startup message is still to come.
                } else {
                    started = true
                }
                offset += size
            }
            pending.removeFirst(offset)
            return queries
        }
    }

    /// Copies `from` to `to` until either ends, showing each chunk to `observe` first.
    private func pump(from: Int32, to: Int32, observe: (ArraySlice<UInt8>) -> Void) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(from, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return }
            observe(buffer[..<count])
            var sent = 0
            while sent < count {
                let written = buffer.withUnsafeBytes { send(to, $0.baseAddress! + sent, count - sent, Int32(MSG_NOSIGNAL)) }
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { return }
                sent += written
            }
        }
    }

    private func connectUpstream() -> Int32? {
        switch target {
        case .tcp(let host, let port):
            var hints = addrinfo()
            hints.ai_family = AF_UNSPEC
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var found: UnsafeMutablePointer<addrinfo>?
            guard getaddrinfo(host, String(port), &hints, &found) == 0, let first = found else { return nil }
            defer { freeaddrinfo(found) }
            let descriptor = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
            guard descriptor >= 0 else { return nil }
            guard Glibc.connect(descriptor, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
                close(descriptor)
                return nil
            }
            return descriptor
        case .unixSocket(let directory, let port):
            let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            guard descriptor >= 0 else { return nil }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            let path = Array("\(directory)/.s.PGSQL.\(port)".utf8CString)
            guard path.count <= MemoryLayout.size(ofValue: address.sun_path) else {
                close(descriptor)
                return nil
            }
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                path.withUnsafeBytes { raw.copyMemory(from: $0) }
            }
            let connected = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0
                }
            }
            guard connected else {
                close(descriptor)
                return nil
            }
            return descriptor
        }
    }
}
