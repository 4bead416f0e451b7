import Crypto
import Foundation

/// One versioned SQL migration: the content of a `<NNNN>_<name>.sql` file.
///
/// A migration is identified by its version inside its ``MigrationSet``; its ``checksum`` (SHA-256 of the SQL
/// text) is recorded when it is applied, so that an edit to a released file is detected instead of silently
/// diverging databases.
public struct Migration: Sendable, Hashable {
    /// The version number from the file name (`0003_…` is 3). Versions increase and are never reused.
    public let version: Int
    /// The descriptive part of the file name (`0003_add_index.sql` is `add_index`).
    public let name: String
    /// The SQL text, possibly several statements.
    public let sql: String
    /// Where the SQL came from (a file path or bundle resource), for error messages.
    public let source: String
    /// The lower-case hexadecimal SHA-256 of ``sql``'s UTF-8 bytes.
    public let checksum: String

    /// Creates a migration from SQL text.
    public init(version: Int, name: String, sql: String, source: String) {
        self.version = version
        self.name = name
        self.sql = sql
        self.source = source
        self.checksum = SHA256.hash(data: Array(sql.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// The zero-padded version as it appears in file names and messages (`0003`).
    public var paddedVersion: String {
        let digits = String(self.version)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    /// Parses a migration file name of the form `<NNNN>_<name>.sql` (at least four digits; name in
    /// `a-z`, `0-9`, `_`).
    ///
    /// - Returns: The version and name, or `nil` if `fileName` does not have that form.
    public static func parseFileName(_ fileName: String) -> (version: Int, name: String)? {
        guard fileName.hasSuffix(".sql") else { return nil }
        let stem = fileName.dropLast(4)
        guard let underscore = stem.firstIndex(of: "_") else { return nil }
        let digits = stem[..<underscore]
        let name = stem[stem.index(after: underscore)...]
        guard digits.count >= 4, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let version = Int(digits),
            version > 0, !name.isEmpty,
            name.utf8.allSatisfy({
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                    || $0 == UInt8(ascii: "_")
            })
        else { return nil }
        return (version, String(name))
    }
}
