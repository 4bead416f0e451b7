import ArgumentParser
import Foundation

/// Reads a command-line date-time the one way every command accepts it, so `--from`, `--to` and
/// `--start` agree on what is valid and say the same thing when it is not.
enum DateTimeOption {
    /// `text` as an RFC 3339 date-time with an offset (`2026-11-24T17:30:00Z`,
    /// `2026-11-24T17:30:00.250+08:00`), or a validation error naming `option`.
    static func parse(_ text: String, option: String) throws -> Date {
        let whole = ISO8601DateFormatter()
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions.insert(.withFractionalSeconds)
        guard let date = whole.date(from: text) ?? fractional.date(from: text) else {
            throw ValidationError("\(option) '\(text)' is not an RFC 3339 date-time such as 2026-11-24T17:30:00Z")
        }
        return date
    }
}
