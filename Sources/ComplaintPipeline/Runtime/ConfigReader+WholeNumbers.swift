import Configuration
import Foundation

extension ConfigReader {
    /// A whole-number setting, refused when set to anything else: swift-configuration's own
    /// `int(forKey:)` answers `nil` (or the default) for `30d`, ` 50` or `8080x`, so a typo started the
    /// service on the default without a word. Unset (or set empty) answers `nil`.
    /// - Throws: ``ServiceSettings/Invalid`` naming the environment variable and the text it holds.
    public func wholeNumber(forKey key: String) throws -> Int? {
        if let value = int(forKey: ConfigKey(key)) { return value }
        guard let text = string(forKey: ConfigKey(key)), !text.isEmpty else { return nil }
        throw ServiceSettings.Invalid(description: "\(Self.variable(forKey: key)) '\(text)' is not a whole number")
    }

    /// A whole-number setting with the default used when it is unset (see ``wholeNumber(forKey:)``).
    public func wholeNumber(forKey key: String, default defaultValue: Int) throws -> Int {
        try wholeNumber(forKey: key) ?? defaultValue
    }

    /// The environment variable a key is read from: `inbox.retention.days` → `INBOX_RETENTION_DAYS`.
    static func variable(forKey key: String) -> String {
        key.uppercased().replacingOccurrences(of: ".", with: "_")
    }
}
