import ComplaintStore
import Logging
import PostgresNIO
import ServiceLifecycle

/// The readiness `postgres` check's own PostgreSQL connection, outside the stage's pool: leased from
/// the pool, its `SELECT 1` queued behind every busy request and pipeline lane, so a burst that held
/// every connection made all replicas unready at once and left a load balancer nowhere to send traffic.
///
/// Connected on first use and kept; a check that fails or does not answer within its timeout closes
/// the connection (closing fails a query that cannot be cancelled), and the next check connects anew,
/// so an unreachable server still fails every check. Run it as a service: it closes the connection
/// when the stage shuts down.
public actor ReadinessConnection: Service {
    private let configuration: PostgresConnection.Configuration
    private let logger: Logger
    private var connection: PostgresConnection?
    private var connecting: Task<PostgresConnection, any Error>?
    private var connections = 0
    private var stopped = false

    /// - Parameter configuration: The pool's server, login and TLS settings (``DatabaseConfiguration/makeConnectionConfiguration()``).
    public init(configuration: PostgresConnection.Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// A `SELECT 1` round trip on the connection, connecting first if there is none.
    /// - Throws: The connection's or the query's error, or a "did not answer" error after `timeout`
    ///   (the connection is then closed).
    public func check(timeout: Duration) async throws {
        do {
            try await withDeadline(timeout, onDeadline: {
                // A connect is cancelled; a query already sent is failed by closing its connection.
                await self.dropCurrent()
            }) {
                let connection = try await self.current()
                do {
                    _ = try await connection.query("SELECT 1", logger: self.logger).collect()
                } catch {
                    await self.drop(connection)
                    throw error
                }
            }
        } catch is DeadlineExceeded {
            throw StageNotReady(description: "PostgreSQL did not answer within \(timeout) on the readiness connection")
        }
    }

    /// Waits for the stage's shutdown, then closes the connection.
    public func run() async throws {
        try? await gracefulShutdown()
        stopped = true
        connecting?.cancel()
        await dropCurrent()
    }

    /// The open connection, or a new one (one connect at a time, shared by concurrent checks).
    private func current() async throws -> PostgresConnection {
        if let connection, !connection.isClosed { return connection }
        if stopped { throw CancellationError() }
        let task: Task<PostgresConnection, any Error>
        if let connecting {
            task = connecting
        } else {
            connections += 1
            let (configuration, id, logger) = (self.configuration, connections, self.logger)
            task = Task { try await PostgresConnection.connect(configuration: configuration, id: id, logger: logger) }
            connecting = task
        }
        do {
            let connection = try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
            if connecting == task { connecting = nil }
            if stopped {
                try? await connection.close()
                throw CancellationError()
            }
            self.connection = connection
            return connection
        } catch {
            if connecting == task { connecting = nil }
            throw error
        }
    }

    private func drop(_ broken: PostgresConnection) async {
        if connection === broken { connection = nil }
        try? await broken.close()
    }

    private func dropCurrent() async {
        if let connection { await drop(connection) }
    }
}
