import ComplaintStore
import ComplaintTesting
import PostgresNIO
import Synchronization

/// A loopback proxy to the test database (``DatabaseProxy``) that counts the round trips its clients
/// make: each extended-protocol query ends with a Sync message (and a simple one is a Query message),
/// so what the pacer costs a delivery is counted on the wire, not by the code under test.
final class RoundTripCountingProxy: Sendable {
    /// The count, shared with every connection's observer.
    private final class Tally: Sendable {
        let queries = Mutex(0)
    }

    private let proxy: DatabaseProxy
    private let tally: Tally

    /// Listens on a free loopback port, forwarding each connection to `target`.
    init(to target: DatabaseConfiguration.Endpoint) throws {
        let tally = Tally()
        self.tally = tally
        proxy = try DatabaseProxy(to: target) {
            let reader = Mutex(FrontendMessages())
            return { bytes in
                let queries = reader.withLock { $0.read(bytes) }
                if queries > 0 { tally.queries.withLock { $0 += queries } }
            }
        }
    }

    /// `configuration`, reaching its server through this proxy, in clear (the messages are read).
    func configuration(from configuration: DatabaseConfiguration) -> DatabaseConfiguration {
        proxy.configuration(from: configuration, inClear: true)
    }

    /// Queries sent so far by every client (Sync and Query messages).
    var roundTrips: Int { tally.queries.withLock { $0 } }

    /// Stops listening and ends every connection.
    func stop() { proxy.stop() }

    /// Runs `body` with a client of the test database that goes through a new counting proxy, and the
    /// proxy. The client sends no keep-alive query, so only what `body` asks for is counted.
    static func withCountedClient(_ body: (PostgresClient, RoundTripCountingProxy) async throws -> Void) async throws {
        let database = try await TestDatabase.shared.configuration()
        let proxy = try RoundTripCountingProxy(to: database.endpoint)
        defer { proxy.stop() }
        var configuration = proxy.configuration(from: database).makeClientConfiguration()
        configuration.options.keepAliveBehavior = nil
        let proxied = PostgresClient(configuration: configuration, backgroundLogger: .complaintTest)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await proxied.run() }
            defer { group.cancelAll() }
            try await body(proxied, proxy)
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
}
