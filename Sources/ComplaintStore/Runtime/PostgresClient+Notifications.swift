import Logging
import PostgresNIO

/// How a listening connection proves it is alive: PostgresNIO sets no TCP keepalive or user timeout on
/// its sockets, and a `LISTEN` connection sends nothing, so one whose server vanished without a reset
/// (a dead VM, a failover moving the address, a dropped NAT entry) would wait for notifications for
/// ever, holding a pool slot. A round trip every ``interval`` that does not answer within ``timeout``
/// closes the connection; the listener then listens again on a new one.
public struct ListenerHeartbeat: Sendable {
    /// How often the listening connection runs ``query``. Default 30 s.
    public var interval: Duration = .seconds(30)
    /// How long the round trip may take before the connection is taken for dead. Default 10 s.
    public var timeout: Duration = .seconds(10)
    /// The round trip (tests use one that never answers).
    public var query: PostgresQuery = "SELECT 1"

    public init() {}
}

/// The listening connection's round trip did not answer in time; it was closed.
public struct ListenerHeartbeatTimedOut: Error, CustomStringConvertible {
    public var description: String
}

extension PostgresClient {
    /// Listens on `channel` while `body` runs, on a connection leased for that time.
    ///
    /// Notifications are a wake-up hint: they are lost while no connection listens, so a listener
    /// also polls. The sequence ends with an error if the connection drops, or if its periodic round
    /// trip (``ListenerHeartbeat``) does not answer; listen again after a backoff.
    public func withNotifications<Result: Sendable>(
        channel: String,
        heartbeat: ListenerHeartbeat = ListenerHeartbeat(),
        logger: Logger,
        _ body: (PostgresNotificationSequence) async throws -> Result
    ) async throws -> Result {
        try await withConnection { connection in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await Self.beat(heartbeat, on: connection, channel: channel, logger: logger) }
                defer { group.cancelAll() }
                return try await connection.listen(on: channel) { notifications in
                    try await body(notifications)
                }
            }
        }
    }

    /// Runs the heartbeat's round trip every interval until cancelled; closes `connection` when one
    /// does not answer in time (a query already sent cannot be cancelled, but closing fails it, and the
    /// listen with it).
    private static func beat(_ heartbeat: ListenerHeartbeat, on connection: PostgresConnection, channel: String, logger: Logger) async throws {
        while true {
            try await Task.sleep(for: heartbeat.interval)
            let answered = try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask {
                    _ = try await connection.query(heartbeat.query, logger: logger).collect()
                    return true
                }
                group.addTask {
                    // Cancelled too (the listener is done) ends the wait: the query may never answer.
                    try? await Task.sleep(for: heartbeat.timeout)
                    return false
                }
                guard let first = try await group.next() else { return false }
                if !first && !Task.isCancelled {
                    logger.warning("listening connection did not answer its round trip; closing it and listening on a new one", metadata: [
                        "channel": "\(channel)", "timeout": "\(heartbeat.timeout)",
                    ])
                }
                if !first { try? await connection.close() }
                group.cancelAll()
                return first
            }
            if !answered {
                throw ListenerHeartbeatTimedOut(description: "the listening connection on \(channel) did not answer within \(heartbeat.timeout)")
            }
        }
    }
}
