import Foundation
import Logging
import PostgresNIO

/// The inbox of one service schema: the ids of the events it has already applied.
///
/// A consumer calls ``markProcessed(eventID:topic:on:logger:)`` inside the same transaction that applies the
/// event. A redelivered event then finds its id and the handler skips it; if the transaction rolls back, the mark
/// disappears with it, so the event is processed again on redelivery. Two consumers racing on the same id are
/// serialised by the primary key: the second waits for the first transaction and then sees `false` (or `true` if
/// the first rolled back).
public struct ProcessedEvents: Sendable {
    /// The schema holding the `processed_events` table.
    public let schema: SchemaName

    /// Addresses `<schema>.processed_events`, created by ``RuntimeTables/migrations()``.
    public init(schema: SchemaName) {
        self.schema = schema
    }

    private var table: String { "\(self.schema).processed_events" }

    /// Records that `eventID` is processed, as part of the transaction open on `connection`.
    ///
    /// - Returns: `true` if the event was new (go ahead and apply it), `false` if it had already been processed.
    @discardableResult
    public func markProcessed(
        eventID: UUID,
        topic: String,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> Bool {
        let rows = try await connection.query(
            """
            INSERT INTO \(unescaped: self.table) (event_id, topic) VALUES (\(eventID), \(topic))
            ON CONFLICT (event_id) DO NOTHING
            RETURNING event_id
            """,
            logger: logger
        ).collect()
        return !rows.isEmpty
    }

    /// Records several events at once (one statement), as part of the transaction open on `connection`;
    /// the ids must be distinct.
    ///
    /// - Returns: The ids that were new (apply those); the others had already been processed.
    public func markProcessed(
        _ events: [(eventID: UUID, topic: String)],
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> Set<UUID> {
        guard !events.isEmpty else { return [] }
        let ids = events.map(\.eventID)
        let topics = events.map(\.topic)
        let rows = try await connection.query(
            """
            INSERT INTO \(unescaped: self.table) (event_id, topic)
            SELECT * FROM unnest(\(ids)::uuid[], \(topics)::text[])
            ON CONFLICT (event_id) DO NOTHING
            RETURNING event_id
            """,
            logger: logger
        )
        var fresh = Set<UUID>()
        for try await id in rows.decode(UUID.self) { fresh.insert(id) }
        return fresh
    }

    /// Whether `eventID` has been processed (as seen by the transaction, if any, open on `connection`).
    public func isProcessed(eventID: UUID, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        let rows = try await connection.query(
            "SELECT 1 FROM \(unescaped: self.table) WHERE event_id = \(eventID)",
            logger: logger
        ).collect()
        return !rows.isEmpty
    }

    /// Which of `eventIDs` have been processed (as seen by the transaction, if any, open on `connection`).
    public func processed(among eventIDs: [UUID], on connection: PostgresConnection, logger: Logger) async throws -> Set<UUID> {
        guard !eventIDs.isEmpty else { return [] }
        let rows = try await connection.query(
            "SELECT event_id FROM \(unescaped: self.table) WHERE event_id = ANY(\(eventIDs)::uuid[])",
            logger: logger)
        var seen = Set<UUID>()
        for try await id in rows.decode(UUID.self) { seen.insert(id) }
        return seen
    }

    /// Deletes up to `limit` marks older than `date`, for retention. Only call it with a horizon beyond which no
    /// redelivery can happen (longer than the topic's retention, or than a consumer can lag).
    ///
    /// - Returns: How many marks were deleted; fewer than `limit` means none is left.
    @discardableResult
    public func purge(processedBefore date: Date, limit: Int = 1000, on connection: PostgresConnection, logger: Logger) async throws -> Int {
        let rows = try await connection.query(
            """
            DELETE FROM \(unescaped: self.table) WHERE event_id IN (
                SELECT event_id FROM \(unescaped: self.table) WHERE processed_at < \(date) ORDER BY processed_at LIMIT \(limit))
            RETURNING 1
            """,
            logger: logger
        ).collect()
        return rows.count
    }
}
