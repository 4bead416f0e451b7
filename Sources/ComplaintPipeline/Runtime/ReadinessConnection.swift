import ComplaintStore
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// The readiness `postgres` check's own PostgreSQL connection, outside the stage's pool: leased from
/// the pool, its `SELECT 1` queued behind every busy request and pipeline lane, so a burst that held
/// every connection made all replicas unready at once and left a load balancer nowhere to send traffic.
///
/// Connected on first use and kept; a check that fails or does not answer within its timeout closes
/// the connection (closing fails a query that cannot be cancelled), and the next check connects anew,
/// so an unreachable server still fails every check. Checks at once share one connect, which a check
/// giving up leaves running for the others (only the last one to give up cancels it): one probe's
/// deadline does not fail a probe that would have seen the connect through. Run it as a service: it closes the connection
/// when the stage shuts down.
public actor ReadinessConnection: Service {
    private let configuration: PostgresConnection.Configuration
    private let logger: Logger
    private var connection: PostgresConnection?
    /// The connect under way, and how many checks wait for it.
    private var connecting: (id: Int, task: Task<PostgresConnection, any Error>, waiters: Int)?
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
        connecting?.task.cancel()
        connecting = nil
        await dropCurrent()
    }

    /// The open connection, or a new one (one connect at a time, shared by concurrent checks). A check
    /// that gives up (its deadline) stops waiting without ending the connect, which goes on for the
    /// other checks waiting on it (`/health/ready` and `/health/dependencies` may check at once); the
    /// last one to give up cancels it, so the next check connects anew.
    private func current() async throws -> PostgresConnection {
        if let connection, !connection.isClosed { return connection }
        if stopped { throw CancellationError() }
        let id: Int
        let task: Task<PostgresConnection, any Error>
        if let joined = connecting {
            (id, task) = (joined.id, joined.task)
            connecting?.waiters += 1
        } else {
            connections += 1
            let (configuration, logger) = (self.configuration, self.logger)
            id = connections
            task = Task { [id] in
                let connection: PostgresConnection
                do {
                    connection = try await PostgresConnection.connect(configuration: configuration, id: id, logger: logger)
                } catch {
                    self.connectFailed(id)
                    throw error
                }
                return try await self.connected(connection, id: id)
            }
            connecting = (id, task, 1)
        }
        defer { leave(id) }
        return try await Self.value(of: task)
    }

    /// The connect `id` succeeded: its connection is kept for the checks to come, unless the service
    /// stopped or every check waiting for it gave up (it is then closed).
    private func connected(_ connection: PostgresConnection, id: Int) async throws -> PostgresConnection {
        guard !stopped, connecting?.id == id else {
            try? await connection.close()
            throw CancellationError()
        }
        connecting = nil
        self.connection = connection
        return connection
    }

    private func connectFailed(_ id: Int) {
        if connecting?.id == id { connecting = nil }
    }

    /// A check stopped waiting for the connect `id`: the last one cancels it.
    private func leave(_ id: Int) {
        guard let joined = connecting, joined.id == id else { return }
        if joined.waiters > 1 {
            connecting?.waiters -= 1
        } else {
            joined.task.cancel()
            connecting = nil
        }
    }

    /// `task`'s value; a `CancellationError` as soon as the calling task is cancelled, leaving `task` running.
    private static func value(of task: Task<PostgresConnection, any Error>) async throws -> PostgresConnection {
        let waiter = Waiter()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<PostgresConnection, any Error>) in
                waiter.install(continuation)
                Task { waiter.resume(with: await task.result) }
            }
        } onCancel: {
            waiter.resume(with: .failure(CancellationError()))
        }
    }

    /// Resumes one continuation once, with whichever result comes first (possibly before it is installed).
    private final class Waiter: Sendable {
        private let state = Mutex<(continuation: CheckedContinuation<PostgresConnection, any Error>?, result: Result<PostgresConnection, any Error>?, resumed: Bool)>(
            (nil, nil, false))

        func install(_ continuation: CheckedContinuation<PostgresConnection, any Error>) {
            let early = state.withLock { state -> Result<PostgresConnection, any Error>? in
                if let result = state.result {
                    state.resumed = true
                    return result
                }
                state.continuation = continuation
                return nil
            }
            if let early { continuation.resume(with: early) }
        }

        func resume(with result: Result<PostgresConnection, any Error>) {
            let continuation = state.withLock { state -> CheckedContinuation<PostgresConnection, any Error>? in
                guard !state.resumed, state.result == nil else { return nil }
                guard let continuation = state.continuation else {
                    state.result = result
                    return nil
                }
                state.resumed = true
                state.continuation = nil
                return continuation
            }
            continuation?.resume(with: result)
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
