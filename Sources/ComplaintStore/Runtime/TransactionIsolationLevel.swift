/// The SQL isolation level of a transaction started by ``PostgresNIO/PostgresConnection/transaction(isolationLevel:readOnly:logger:file:line:isolation:_:)``.
public struct TransactionIsolationLevel: Sendable, Hashable, CustomStringConvertible {
    private enum Base: String, Sendable, Hashable {
        case readCommitted = "READ COMMITTED"
        case repeatableRead = "REPEATABLE READ"
        case serializable = "SERIALIZABLE"
    }

    private let base: Base

    private init(_ base: Base) {
        self.base = base
    }

    /// PostgreSQL's default: each statement sees what was committed before it started.
    public static let readCommitted = Self(.readCommitted)
    /// One snapshot for the whole transaction; concurrent updates fail with SQLSTATE 40001.
    public static let repeatableRead = Self(.repeatableRead)
    /// Full serializability; conflicting transactions fail with SQLSTATE 40001 and should be retried.
    public static let serializable = Self(.serializable)

    /// The SQL spelling (`READ COMMITTED`, …).
    public var description: String { self.base.rawValue }
}
