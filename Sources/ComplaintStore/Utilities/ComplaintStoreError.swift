/// An error raised by ComplaintStore itself (configuration, migrations, transactions).
///
/// Errors that PostgreSQL or PostgresNIO raise (`PSQLError`, connection errors) pass through unchanged; classify
/// those with ``PostgresErrorClassifier``.
public struct ComplaintStoreError: Error, Hashable, CustomStringConvertible, Sendable {
    /// What went wrong, as a closed set of cases that callers can compare against.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case invalidDatabaseURL
            case invalidSchemaName
            case invalidMigration
            case migrationChecksumMismatch
            case migrationOutOfOrder
            case migrationLockTimeout
            case migrationFailed
            case transactionRolledBack
        }

        private let base: Base

        private init(_ base: Base) {
            self.base = base
        }

        /// A `DATABASE_URL` (or the variables that replace it) could not be understood.
        public static let invalidDatabaseURL = Self(.invalidDatabaseURL)
        /// A schema name is not a plain lower-case SQL identifier.
        public static let invalidSchemaName = Self(.invalidSchemaName)
        /// A migration file or set is malformed (bad file name, duplicate version, missing folder).
        public static let invalidMigration = Self(.invalidMigration)
        /// An applied migration's file content has changed since it was applied.
        public static let migrationChecksumMismatch = Self(.migrationChecksumMismatch)
        /// A pending migration is older than one that is already applied.
        public static let migrationOutOfOrder = Self(.migrationOutOfOrder)
        /// Another migrator held the migration lock for longer than allowed.
        public static let migrationLockTimeout = Self(.migrationLockTimeout)
        /// A migration's SQL failed; ``ComplaintStoreError/underlying`` holds the database error.
        public static let migrationFailed = Self(.migrationFailed)
        /// `COMMIT` rolled back, because a statement in the transaction failed and the body ignored the failure.
        public static let transactionRolledBack = Self(.transactionRolledBack)

        public var description: String { self.base.rawValue }
    }

    /// The kind of failure.
    public let code: Code
    /// A human-readable explanation naming the offending input. Never contains a password.
    public let reason: String
    /// The source file that raised the error.
    public let file: String
    /// The source line that raised the error.
    public let line: UInt
    /// The error that caused this one (for example the `PSQLError` of a failed migration statement). Not part of
    /// equality.
    public let underlying: (any Error)?

    private init(code: Code, reason: String, underlying: (any Error)? = nil, file: String, line: UInt) {
        self.code = code
        self.reason = reason
        self.underlying = underlying
        self.file = file
        self.line = line
    }

    public var description: String {
        "ComplaintStoreError.\(self.code): \(self.reason) \(self.file):\(self.line)"
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.code == rhs.code && lhs.reason == rhs.reason && lhs.file == rhs.file && lhs.line == rhs.line
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.code)
        hasher.combine(self.reason)
        hasher.combine(self.file)
        hasher.combine(self.line)
    }

    static func invalidDatabaseURL(_ reason: String, file: String = #fileID, line: UInt = #line) -> Self {
        Self(code: .invalidDatabaseURL, reason: reason, file: file, line: line)
    }

    static func invalidSchemaName(_ reason: String, file: String = #fileID, line: UInt = #line) -> Self {
        Self(code: .invalidSchemaName, reason: reason, file: file, line: line)
    }

    static func invalidMigration(_ reason: String, file: String = #fileID, line: UInt = #line) -> Self {
        Self(code: .invalidMigration, reason: reason, file: file, line: line)
    }

    static func migrationChecksumMismatch(_ reason: String, file: String = #fileID, line: UInt = #line) -> Self {
        Self(code: .migrationChecksumMismatch, reason: reason, file: file, line: line)
    }

    static func migrationOutOfOrder(_ reason: String, file: String = #fileID, line: UInt = #line) -> Self {
        Self(code: .migrationOutOfOrder, reason: reason, file: file, line: line)
    }

    static func migrationLockTimeout(_ reason: String, file: String = #fileID, line: UInt = #line) -> Self {
        Self(code: .migrationLockTimeout, reason: reason, file: file, line: line)
    }

    static func migrationFailed(
        _ reason: String,
        underlying: any Error,
        file: String = #fileID,
        line: UInt = #line
    ) -> Self {
        Self(code: .migrationFailed, reason: reason, underlying: underlying, file: file, line: line)
    }

    static func transactionRolledBack(_ reason: String, file: String = #fileID, line: UInt = #line) -> Self {
        Self(code: .transactionRolledBack, reason: reason, file: file, line: line)
    }
}
