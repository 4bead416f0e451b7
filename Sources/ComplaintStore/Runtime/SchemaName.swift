/// The name of a service's PostgreSQL schema (`intake`, `classifier`, …), checked to be a plain identifier.
///
/// Schema names cannot be bound as query parameters, so every statement that names a schema splices it into the
/// SQL text. This type is the guard that makes that safe: only lower-case ASCII letters, digits and `_`, starting
/// with a letter or `_`, at most 63 bytes (PostgreSQL's identifier limit), and not a `pg_` system name. Such a
/// name never needs quoting.
public struct SchemaName: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// The validated name.
    public let rawValue: String

    /// Validates `name`.
    ///
    /// - Throws: A ``ComplaintStoreError`` with code ``ComplaintStoreError/Code/invalidSchemaName`` if `name` is
    ///   not a plain lower-case identifier.
    public init(_ name: String) throws {
        if let problem = Self.problem(with: name) {
            throw ComplaintStoreError.invalidSchemaName("schema name '\(name)' \(problem)")
        }
        self.rawValue = name
    }

    /// Creates a name from a literal in code.
    ///
    /// - Important: An invalid literal is a programming error and stops the process.
    public init(stringLiteral value: String) {
        if let problem = Self.problem(with: value) {
            preconditionFailure("schema name '\(value)' \(problem)")
        }
        self.rawValue = value
    }

    public var description: String { self.rawValue }

    private static func problem(with name: String) -> String? {
        guard !name.isEmpty else { return "is empty" }
        guard name.utf8.count <= 63 else { return "is longer than 63 bytes" }
        guard !name.hasPrefix("pg_") else { return "uses the reserved prefix 'pg_'" }
        for (offset, byte) in name.utf8.enumerated() {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "_"):
                continue
            case UInt8(ascii: "0")...UInt8(ascii: "9") where offset > 0:
                continue
            default:
                return "must use only a-z, 0-9 and _, and start with a letter or _"
            }
        }
        return nil
    }
}
