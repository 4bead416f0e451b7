import Logging
import PostgresNIO

extension PostgresClient {
    /// Listens on `channel` while `body` runs, on a connection leased for that time.
    ///
    /// Notifications are a wake-up hint: they are lost while no connection listens, so a listener
    /// also polls. The sequence ends with an error if the connection drops; listen again after a backoff.
    public func withNotifications<Result: Sendable>(
        channel: String,
        logger: Logger,
        _ body: (PostgresNotificationSequence) async throws -> Result
    ) async throws -> Result {
        try await withConnection { connection in
            try await connection.listen(on: channel) { notifications in
                try await body(notifications)
            }
        }
    }
}
