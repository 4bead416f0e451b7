import ComplaintStore
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A loopback TCP proxy to the test database, for tests of what happens on the wire: its connections
/// can stop forwarding without closing (``stall()``), as through a host that vanished (no RST, every
/// packet dropped), and what clients send can be watched (``ClientObserver``), e.g. to count round trips.
public final class DatabaseProxy: Sendable {
    /// Sees each chunk a client sends, in order; one per connection, made by the proxy's factory.
    public typealias ClientObserver = @Sendable (ArraySlice<UInt8>) -> Void

    /// One client connection and its upstream twin, closed once both directions have stopped.
    private final class Pair: Sendable {
        let client: Int32
        let upstream: Int32
        let observe: ClientObserver
        private let state = Mutex((stalled: false, pumping: 2))
        init(client: Int32, upstream: Int32, observe: @escaping ClientObserver) {
            self.client = client
            self.upstream = upstream
            self.observe = observe
        }
        var stalled: Bool {
            get { state.withLock { $0.stalled } }
            set { state.withLock { $0.stalled = newValue } }
        }
        func shutDown() {
            Glibc.shutdown(client, Int32(SHUT_RDWR))
            Glibc.shutdown(upstream, Int32(SHUT_RDWR))
        }
        /// One direction stopped: the other is woken; the last one closes both sockets.
        func pumpEnded() {
            shutDown()
            if state.withLock({ $0.pumping -= 1; return $0.pumping == 0 }) {
                close(client)
                close(upstream)
            }
        }
    }

    /// The port it listens on, on 127.0.0.1.
    public let port: Int
    private let listener: Int32
    private let target: DatabaseConfiguration.Endpoint
    private let makeObserver: @Sendable () -> ClientObserver
    private let state = Mutex((pairs: [ObjectIdentifier: Pair](), accepted: 0, stopped: false))

    /// Listens on a free loopback port, forwarding each connection to `target`; `observer` makes the
    /// observer of each new connection.
    public init(
        to target: DatabaseConfiguration.Endpoint, observer: @escaping @Sendable () -> ClientObserver = { { _ in } }
    ) throws {
        self.target = target
        self.makeObserver = observer
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

    /// `configuration`, reaching its server through this proxy; `inClear` turns TLS off, for an observer
    /// that reads the messages.
    public func configuration(from configuration: DatabaseConfiguration, inClear: Bool = false) -> DatabaseConfiguration {
        var proxied = configuration
        proxied.endpoint = .tcp(host: "127.0.0.1", port: port)
        // A Unix socket upstream has no TLS to offer.
        if case .unixSocket = target { proxied.tlsMode = .disable }
        if inClear { proxied.tlsMode = .disable }
        return proxied
    }

    /// Connections accepted so far.
    public var accepted: Int { state.withLock { $0.accepted } }

    /// Every open connection stops forwarding, both ways, and stays open; later ones are unaffected.
    public func stall() {
        for pair in state.withLock({ Array($0.pairs.values) }) { pair.stalled = true }
    }

    /// Stops listening and ends every connection.
    public func stop() {
        let pairs = state.withLock { state -> [Pair] in
            state.stopped = true
            return Array(state.pairs.values)
        }
        Glibc.shutdown(listener, Int32(SHUT_RDWR))
        for pair in pairs { pair.shutDown() }
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
            let pair = Pair(client: client, upstream: upstream, observe: makeObserver())
            let admitted = state.withLock { state -> Bool in
                guard !state.stopped else { return false }
                state.accepted += 1
                state.pairs[ObjectIdentifier(pair)] = pair
                return true
            }
            guard admitted else {
                close(client)
                close(upstream)
                return
            }
            Thread.detachNewThread { self.pump(from: client, to: upstream, pair: pair, observe: pair.observe) }
            Thread.detachNewThread { self.pump(from: upstream, to: client, pair: pair, observe: { _ in }) }
        }
    }

    /// Copies `from` to `to` until either ends, showing each chunk to `observe` first; while stalled, what
    /// arrives is dropped.
    private func pump(from: Int32, to: Int32, pair: Pair, observe: ClientObserver) {
        defer {
            state.withLock { _ = $0.pairs.removeValue(forKey: ObjectIdentifier(pair)) }
            pair.pumpEnded()
        }
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(from, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return }
            if pair.stalled { continue }
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
