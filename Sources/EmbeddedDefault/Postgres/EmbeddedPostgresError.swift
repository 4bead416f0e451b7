/// An error of the development PostgreSQL (``EmbeddedPostgres``): no usable installation, or the server could not
/// be initialised, started or stopped.
public struct EmbeddedPostgresError: Error, Hashable, CustomStringConvertible, Sendable {
    /// What went wrong.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case unavailable, failed
        }

        private let base: Base

        private init(_ base: Base) {
            self.base = base
        }

        /// No usable PostgreSQL installation was found.
        public static let unavailable = Self(.unavailable)
        /// The server could not be initialised, started or stopped.
        public static let failed = Self(.failed)

        public var description: String { self.base.rawValue }
    }

    public let code: Code
    /// A human-readable explanation naming the offending path or command.
    public let reason: String
    public let file: String
    public let line: UInt
    /// The error that caused this one, if any. Not part of equality.
    public let underlying: (any Error)?

    public var description: String {
        "EmbeddedPostgresError.\(self.code): \(self.reason) \(self.file):\(self.line)"
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.code == rhs.code && lhs.reason == rhs.reason && lhs.file == rhs.file && lhs.line == rhs.line
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.code)
        hasher.combine(self.reason)
    }

    static func unavailable(_ reason: String, file: String = #fileID, line: UInt = #line) -> Self {
        Self(code: .unavailable, reason: reason, file: file, line: line, underlying: nil)
    }

    static func failed(_ reason: String, underlying: (any Error)? = nil, file: String = #fileID, line: UInt = #line) -> Self {
        Self(code: .failed, reason: reason, file: file, line: line, underlying: underlying)
    }
}
