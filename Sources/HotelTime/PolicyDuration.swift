import Foundation

/// A length of time as configuration files (SLA policies, the metrics file) write it: `5m`, `4h`, `1h30m`, `90s`, `2d`. Never negative.
public struct PolicyDuration: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var seconds: Int

    public init(seconds: Int) {
        self.seconds = seconds
    }

    public static func minutes(_ minutes: Int) -> PolicyDuration { PolicyDuration(seconds: minutes * 60) }
    public static func hours(_ hours: Int) -> PolicyDuration { PolicyDuration(seconds: hours * 3600) }
    public static func days(_ days: Int) -> PolicyDuration { PolicyDuration(seconds: days * 86_400) }

    /// The ``problem(with:longest:)`` of text that is no duration at all.
    public static let malformed = "must be a duration such as 5m, 4h, 1h30m, 90s or 2d"

    /// Why `text` is not a duration of at most `longest` (when given), or `nil` when it is one. A number
    /// too large to count in seconds is refused as too long, never trapped on.
    public static func problem(with text: String, longest: PolicyDuration? = nil) -> String? {
        if text.hasPrefix("-") { return "must not be negative" }
        switch parse(text) {
        case .malformed: return malformed
        case .tooLong: return longest.map { "must be at most \($0)" } ?? "is too long"
        case .duration(let duration):
            if let longest, duration > longest { return "must be at most \(longest)" }
            return nil
        }
    }

    /// Parses a sequence of number–unit pairs (`d`, `h`, `m`, `s`), largest unit first; `nil` for
    /// anything else, or a duration too long to count in seconds.
    public init?(_ text: String) {
        guard case .duration(let duration) = Self.parse(text) else { return nil }
        self = duration
    }

    private enum Parsed {
        case duration(PolicyDuration)
        case malformed
        case tooLong
    }

    private static func parse(_ text: String) -> Parsed {
        let units: [Character: Int] = ["d": 86_400, "h": 3600, "m": 60, "s": 1]
        var total = 0
        var number = ""
        var lastUnit = Int.max
        var overflowed = false
        for character in text.trimmingCharacters(in: .whitespaces) {
            if character.isASCII && character.isNumber {
                number.append(character)
            } else if let unit = units[character], !number.isEmpty, unit < lastUnit {
                // Digits beyond Int, or a product or sum beyond it: too long, not a trap.
                if let value = Int(number) {
                    let (product, productOverflow) = value.multipliedReportingOverflow(by: unit)
                    let (sum, sumOverflow) = total.addingReportingOverflow(product)
                    if productOverflow || sumOverflow { overflowed = true } else { total = sum }
                } else {
                    overflowed = true
                }
                number = ""
                lastUnit = unit
            } else {
                return .malformed
            }
        }
        guard number.isEmpty, lastUnit != Int.max else { return .malformed }
        return overflowed ? .tooLong : .duration(PolicyDuration(seconds: total))
    }

    public var description: String {
        var rest = seconds
        var text = ""
        for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] where rest >= size {
            text += "\(rest / size)\(unit)"
            rest %= size
        }
        return text.isEmpty ? "0s" : text
    }

    public var timeInterval: TimeInterval { TimeInterval(seconds) }

    public static func < (lhs: PolicyDuration, rhs: PolicyDuration) -> Bool { lhs.seconds < rhs.seconds }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        if let problem = Self.problem(with: text) {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: problem))
        }
        self = PolicyDuration(text)!
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
