/// A string format shared with the JSON Schemas: the exact `pattern` text the schemas use, the
/// words an error message uses, and a matcher over Unicode scalars (JSON Schema counts code
/// points, not Swift `Character`s).
///
/// Matchers are written by hand because `Regex` is not `Sendable` and compiling one per use is
/// slow; `TextPatternTests` checks each matcher against `Regex(regex)` on generated strings.
public struct TextPattern: Sendable {
    /// The ECMA-262 regular expression, as written in `schemas/`.
    let regex: String
    /// Completes "must be …" in an error message.
    public let meaning: String
    private let matcher: @Sendable (String.UnicodeScalarView) -> Bool

    init(regex: String, meaning: String, matcher: @escaping @Sendable (String.UnicodeScalarView) -> Bool) {
        self.regex = regex
        self.meaning = meaning
        self.matcher = matcher
    }

    public func matches(_ text: String) -> Bool { matcher(text.unicodeScalars) }
}

/// A set of ASCII characters with its regular-expression spelling.
struct ScalarClass: Sendable {
    let regex: String
    let contains: @Sendable (Unicode.Scalar) -> Bool

    static let lowercase = ScalarClass(regex: "a-z") { ("a"..."z").contains($0) }
    static let letter = ScalarClass(regex: "A-Za-z") { ("a"..."z").contains($0) || ("A"..."Z").contains($0) }
    static let alphanumeric = ScalarClass(regex: "A-Za-z0-9") { letter.contains($0) || digit.contains($0) }
    static let lowercaseAlphanumeric = ScalarClass(regex: "a-z0-9") { lowercase.contains($0) || digit.contains($0) }
    static let digit = ScalarClass(regex: "0-9") { ("0"..."9").contains($0) }
    static let lowerHex = ScalarClass(regex: "0-9a-f") { digit.contains($0) || ("a"..."f").contains($0) }
    static let anyHex = ScalarClass(regex: "0-9a-fA-F") { lowerHex.contains($0) || ("A"..."F").contains($0) }
    static let identifier = ScalarClass(regex: "A-Za-z0-9._-") { alphanumeric.contains($0) || "._-".unicodeScalars.contains($0) }
    static let code = ScalarClass(regex: "a-z0-9_") { lowercaseAlphanumeric.contains($0) || $0 == "_" }
    static let serviceName = ScalarClass(regex: "a-z0-9-") { lowercaseAlphanumeric.contains($0) || $0 == "-" }
    /// Printable ASCII without the space.
    static let visibleASCII = ScalarClass(regex: "!-~") { ("!"..."~").contains($0) }
    /// Printable ASCII without the space and `@`.
    /// RFC 5322 atext: what an unquoted local part may hold between dots.
    static let emailAtom = ScalarClass(regex: "A-Za-z0-9!#$%&'*+/=?^_`{|}~-") {
        alphanumeric.contains($0) || "!#$%&'*+/=?^_`{|}~-".unicodeScalars.contains($0)
    }
    static let hostnameCharacter = ScalarClass(regex: "A-Za-z0-9-") { alphanumeric.contains($0) || $0 == "-" }
    static let uriReference = ScalarClass(regex: #"A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=%-"#) {
        alphanumeric.contains($0) || #"._~:/?#[]@!$&'()*+,;=%-"#.unicodeScalars.contains($0)
    }
    static let base64 = ScalarClass(regex: "A-Za-z0-9+/") { alphanumeric.contains($0) || $0 == "+" || $0 == "/" }
}

extension TextPattern {
    /// `^[first][rest]{min-1,max-1}$`: one character of `first`, then `rest`, `length` in total.
    static func run(first: ScalarClass, rest: ScalarClass, length: ClosedRange<Int>, meaning: String) -> TextPattern {
        TextPattern(
            regex: "^[\(first.regex)][\(rest.regex)]{\(length.lowerBound - 1),\(length.upperBound - 1)}$", meaning: meaning
        ) { scalars in
            guard length.contains(scalars.count), let head = scalars.first, first.contains(head) else { return false }
            return scalars.dropFirst().allSatisfy(rest.contains)
        }
    }

    /// `^[class]{min,max}$`.
    static func repeated(_ characters: ScalarClass, _ length: ClosedRange<Int>, meaning: String) -> TextPattern {
        let count = length.lowerBound == length.upperBound ? "\(length.lowerBound)" : "\(length.lowerBound),\(length.upperBound)"
        return TextPattern(regex: "^[\(characters.regex)]{\(count)}$", meaning: meaning) { scalars in
            length.contains(scalars.count) && scalars.allSatisfy(characters.contains)
        }
    }

    /// `^[class]+$`; the length is bounded by the field's `maxLength`.
    static func oneOrMore(_ characters: ScalarClass, meaning: String) -> TextPattern {
        TextPattern(regex: "^[\(characters.regex)]+$", meaning: meaning) { scalars in
            !scalars.isEmpty && scalars.allSatisfy(characters.contains)
        }
    }

    /// Hotels, staff, reporters: `SHA-PD01`, `emp.10482`.
    public static let identifier = run(
        first: .alphanumeric, rest: .identifier, length: 1...64,
        meaning: "an identifier of letters, digits, '.', '_' and '-' that starts with a letter or digit")

    /// Configurable vocabulary: departments, root causes, templates, strategies, rule names.
    public static let code = run(
        first: .lowercase, rest: .code, length: 1...64,
        meaning: "a snake_case code of lower-case letters, digits and '_' that starts with a letter")

    /// A Redress executable, e.g. `redress-intake`.
    static let serviceName = run(
        first: .lowercase, rest: .serviceName, length: 1...64,
        meaning: "a service name of lower-case letters, digits and '-' that starts with a letter")

    /// Identifiers from other systems (external ids, reservation numbers, model versions).
    static func reference(maxLength: Int) -> TextPattern {
        repeated(.visibleASCII, 1...maxLength, meaning: "printable ASCII without spaces")
    }

    /// A BCP 47 language tag such as `zh-CN`, `en` or `zh-Hans-CN`.
    public static let language = TextPattern(
        regex: "^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$", meaning: "a BCP 47 language tag such as zh-CN or en"
    ) { scalars in
        let subtags = scalars.split(separator: "-", omittingEmptySubsequences: false)
        guard let primary = subtags.first, (2...3).contains(primary.count), primary.allSatisfy(ScalarClass.letter.contains),
              subtags.count <= 4
        else { return false }
        return subtags.dropFirst().allSatisfy { (2...8).contains($0.count) && $0.allSatisfy(ScalarClass.alphanumeric.contains) }
    }

    /// A W3C Trace Context `traceparent` (version 00).
    static let traceParent = TextPattern(
        regex: "^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$", meaning: "a W3C traceparent such as 00-<32 hex>-<16 hex>-<2 hex>"
    ) { scalars in
        let fields = scalars.split(separator: "-", omittingEmptySubsequences: false)
        return fields.count == 4 && fields.map(\.count) == [2, 32, 16, 2] && fields[0].elementsEqual("00".unicodeScalars)
            && fields.dropFirst().allSatisfy { $0.allSatisfy(ScalarClass.lowerHex.contains) }
    }

    /// The pseudonymous guest key: HMAC-SHA-256 in lower-case hex.
    static let guestKey = repeated(.lowerHex, 64...64, meaning: "64 lower-case hexadecimal digits")

    /// ISO 4217 alphabetic currency code.
    static let currency = repeated(
        ScalarClass(regex: "A-Z") { ("A"..."Z").contains($0) }, 3...3, meaning: "an ISO 4217 currency code such as CNY")

    /// E.164 telephone number.
    static let phone = TextPattern(regex: #"^\+[1-9][0-9]{6,14}$"#, meaning: "an E.164 phone number such as +8613800138000") {
        scalars in
        let digits = scalars.dropFirst()
        return scalars.first == "+" && (7...15).contains(digits.count) && digits.first != "0"
            && digits.allSatisfy(ScalarClass.digit.contains)
    }

    /// An ASCII e-mail address with a dot in the domain.
    static let email = TextPattern(
        regex: #"^(?=[^@]{1,64}@)[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"#,
        meaning: "an e-mail address such as guest@example.com"
    ) { scalars in
        // Dot-atoms of atext (at most 64 characters, RFC 5321), '@', then two or more host labels
        // (letters, digits, inner hyphens; at most 63 characters each).
        let parts = scalars.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count <= 64 else { return false }
        let atoms = parts[0].split(separator: ".", omittingEmptySubsequences: false)
        guard atoms.allSatisfy({ !$0.isEmpty && $0.allSatisfy(ScalarClass.emailAtom.contains) }) else { return false }
        let labels = parts[1].split(separator: ".", omittingEmptySubsequences: false)
        return labels.count >= 2 && labels.allSatisfy { label in
            (1...63).contains(label.count) && label.allSatisfy(ScalarClass.hostnameCharacter.contains)
                && label.first != "-" && label.last != "-"
        }
    }

    /// A CloudEvents `source`: a URI reference such as `/redress/intake` or `/pms/opera`.
    static let uriReference = oneOrMore(.uriReference, meaning: "a URI reference such as /redress/intake")

    /// A Kafka topic name.
    static let topicName = oneOrMore(.identifier, meaning: "a Kafka topic name")

    /// A CloudEvents extension attribute name.
    static let attributeName = repeated(
        .lowercaseAlphanumeric, 1...20, meaning: "a CloudEvents attribute name of 1 to 20 lower-case letters and digits")

    /// Padded standard base64 (RFC 4648 §4).
    static let base64 = TextPattern(
        regex: "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$", meaning: "padded base64"
    ) { scalars in
        let characters = Array(scalars)
        guard characters.count % 4 == 0 else { return false }
        let padding = characters.reversed().prefix { $0 == "=" }.count
        return padding <= 2 && characters.dropLast(padding).allSatisfy(ScalarClass.base64.contains)
    }

    /// A UUID in 8-4-4-4-12 hexadecimal form, either case: the envelope `id`, which other systems mint.
    static let uuid = TextPattern(
        regex: "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", meaning: "a UUID"
    ) { scalars in uuidShape(scalars, ScalarClass.anyHex) }

    /// A UUID in lower case: every id Redress mints. Complaint ids are Kafka keys, so one
    /// spelling keeps all events of a complaint on one partition.
    static let lowercaseUUID = TextPattern(
        regex: "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", meaning: "a lower-case UUID"
    ) { scalars in uuidShape(scalars, ScalarClass.lowerHex) }

    private static func uuidShape(_ scalars: String.UnicodeScalarView, _ digits: ScalarClass) -> Bool {
        let groups = scalars.split(separator: "-", omittingEmptySubsequences: false)
        return groups.map(\.count) == [8, 4, 4, 4, 12] && groups.allSatisfy { $0.allSatisfy(digits.contains) }
    }

    /// RFC 3339 `date-time`; see ``EventTimestamp``.
    static let dateTime = TextPattern(
        regex: EventTimestamp.pattern, meaning: "an RFC 3339 date-time such as 2025-03-12T08:15:00Z"
    ) { scalars in EventTimestamp.date(from: String(scalars)) != nil }
}
