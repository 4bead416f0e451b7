import Foundation

/// A length of time as configuration files (SLA policies, the metrics file) write it: `5m`, `4h`, `1h30m`, `90s`, `2d`. Never negative.
public struct PolicyDuration: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var seconds: Int

    public init(seconds: Int) {
        self.seconds = seconds
    }

    public static func minutes(_ minutes: Int) -> PolicyDuration { PolicyDuration(seconds: minutes * 60) }
    public static func hours(_ hours: Int) -> PolicyDuration { PolicyDuration(seconds: hours * 3600) }

    /// Why `text` is not a duration, or `nil` when it is one.
    public static func problem(with text: String) -> String? {
        if text.hasPrefix("-") { return "must not be negative" }
        return PolicyDuration(text) == nil ? "must be a duration such as 5m, 4h, 1h30m, 90s or 2d" : nil
    }

    /// Parses a sequence of number–unit pairs (`d`, `h`, `m`, `s`), largest unit first.
    public init?(_ text: String) {
        let units: [Character: Int] = ["d": 86_400, "h": 3600, "m": 60, "s": 1]
        var total = 0
        var number = ""
        var lastUnit = Int.max
        for character in text.trimmingCharacters(in: .whitespaces) {
            if character.isASCII && character.isNumber {
                number.append(character)
            } else if let unit = units[character], let value = Int(number), unit < lastUnit {
                total += value * unit
                number = ""
                lastUnit = unit
            } else {
                return nil
            }
        }
        guard number.isEmpty, lastUnit != Int.max else { return nil }
        self.seconds = total
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
