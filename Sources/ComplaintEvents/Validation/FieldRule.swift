/// A constraint on one member of an event object, mirroring one `properties` entry of a schema:
/// `minLength`/`maxLength`/`pattern`, `minimum`/`maximum`, or `minItems`/`maxItems`/`items`.
///
/// Type checks (string, integer, …) belong to the decoder; a rule whose JSON type does not match
/// the value is skipped so the decoder can report the type error instead.
indirect enum FieldRule: Sendable {
    case text(length: ClosedRange<Int>, pattern: TextPattern?)
    case integer(ClosedRange<Int64>)
    case number(ClosedRange<Double>)
    case list(count: ClosedRange<Int>, element: FieldRule?)

    /// Free text of 1…`maxLength` code points.
    static func text(maxLength: Int) -> FieldRule { .text(length: 1...maxLength, pattern: nil) }
    /// A string in `pattern`, at most `maxLength` code points.
    static func text(maxLength: Int, _ pattern: TextPattern) -> FieldRule { .text(length: 1...maxLength, pattern: pattern) }

    static let identifier = FieldRule.text(maxLength: 64, .identifier)
    static let code = FieldRule.text(maxLength: 64, .code)
    static let language = FieldRule.text(maxLength: 35, .language)
    static let name = FieldRule.text(maxLength: 200)

    /// The rule for the elements of a list.
    var element: FieldRule? {
        if case .list(_, let element) = self { return element }
        return nil
    }

    /// Throws if `value` breaks this rule; `path` locates the value.
    func check(_ value: JSONValue, at path: @autoclosure () -> [any CodingKey]) throws(EventValidationError) {
        func fail(_ rule: String) -> EventValidationError {
            EventValidationError(code: .invalidValue, codingPath: path(), rule: rule)
        }
        switch (self, value) {
        case let (.text(length, pattern), .string(string)):
            let count = string.unicodeScalars.count
            if count < length.lowerBound {
                throw fail(length.lowerBound == 1 ? "must not be empty" : "shorter than \(length.lowerBound) characters")
            }
            if count > length.upperBound { throw fail("longer than \(length.upperBound) characters") }
            if let pattern, !pattern.matches(string) { throw fail("must be \(pattern.meaning)") }
        case let (.integer(range), .integer(integer)):
            if integer < range.lowerBound { throw fail("less than \(range.lowerBound)") }
            if integer > range.upperBound { throw fail("greater than \(range.upperBound)") }
        case let (.integer(range), .double(double)):
            if double < Double(range.lowerBound) { throw fail("less than \(range.lowerBound)") }
            if double > Double(range.upperBound) { throw fail("greater than \(range.upperBound)") }
        case let (.number(range), .integer(integer)):
            try FieldRule.number(range).check(.double(Double(integer)), at: path())
        case let (.number(range), .double(double)):
            if double < range.lowerBound { throw fail("less than \(Self.format(range.lowerBound))") }
            if double > range.upperBound { throw fail("greater than \(Self.format(range.upperBound))") }
        case let (.list(count, _), .array(elements)):
            if elements.count < count.lowerBound { throw fail("fewer than \(count.lowerBound) items") }
            if elements.count > count.upperBound { throw fail("more than \(count.upperBound) items") }
        default:
            break
        }
    }

    private static func format(_ bound: Double) -> String {
        bound == bound.rounded() && abs(bound) < 1e15 ? String(Int64(bound)) : String(bound)
    }
}

/// The rules of one object type, by JSON member name.
struct FieldRules: Sendable {
    private let rules: [String: FieldRule]

    init<Key: CodingKey>(_ rules: KeyValuePairs<Key, FieldRule>) {
        self.rules = Dictionary(uniqueKeysWithValues: rules.map { ($0.key.stringValue, $0.value) })
    }

    subscript(name: String) -> FieldRule? { rules[name] }
}

/// An event object whose members carry rules beyond their Swift types.
protocol ValidatedObject {
    static var fieldRules: FieldRules { get }
}
