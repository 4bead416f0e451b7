import ArgumentParser
import ComplaintEvents
import Foundation

/// Reads a command-line date-time the one way every command accepts it, so `--from`, `--to` and
/// `--start` agree on what is valid and say the same thing when it is not.
enum DateTimeOption {
    /// `text` as an RFC 3339 date-time with an offset (`2026-11-24T17:30:00Z`,
    /// `2026-11-24T17:30:00.250+08:00`) — the events' own format, read by ``EventTimestamp`` — or a
    /// validation error naming `option`.
    static func parse(_ text: String, option: String) throws -> Date {
        guard let date = EventTimestamp.date(from: text) else {
            throw ValidationError("\(option) '\(text)' is not an RFC 3339 date-time such as 2026-11-24T17:30:00Z")
        }
        return date
    }
}
