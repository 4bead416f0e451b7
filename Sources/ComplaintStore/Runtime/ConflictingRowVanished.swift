/// An insert conflicted with a row that was gone when read right after it — a concurrent purge deleted
/// it in between (`ON CONFLICT DO NOTHING` does not lock the row it conflicts with). Nothing is wrong with
/// the request: run again, the insert succeeds. ``PostgresErrorClassifier`` counts it as a conflict, like
/// a serialisation failure: transient, and retried at once where those are.
public struct ConflictingRowVanished: Error, CustomStringConvertible {
    /// The table whose row vanished, for the log.
    public var table: String

    public init(table: String) {
        self.table = table
    }

    public var description: String { "a row of \(table) that an insert conflicted with vanished before it could be read (deleted concurrently); retry" }
}
