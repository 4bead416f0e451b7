/// Why bytes are not a valid event: the exact field and the rule it breaks.
///
/// `description` reads `data.guest.roomNumber: longer than 16 characters` and is meant to be used
/// verbatim as the dead-letter reason and as the `detail` of an RFC 9457 problem response.
/// Errors about the document as a whole (malformed JSON, size, depth) have an empty `path`
/// and their description is the rule alone.
public struct EventValidationError: Error, Hashable, CustomStringConvertible, Sendable {
    /// The kind of fault, for callers that map errors to HTTP statuses or metrics labels.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Kind: String, Hashable, Sendable {
            case malformedJSON = "malformed_json"
            case tooLarge = "too_large"
            case tooDeep = "too_deep"
            case missingProperty = "missing_property"
            case unknownProperty = "unknown_property"
            case typeMismatch = "type_mismatch"
            case invalidValue = "invalid_value"
            case inconsistent
        }

        private let kind: Kind

        /// The bytes are not JSON.
        public static let malformedJSON = Code(kind: .malformedJSON)
        /// The event exceeds ``EventCoding/maximumEventSize`` (HTTP 413).
        public static let tooLarge = Code(kind: .tooLarge)
        /// Containers nest deeper than ``EventCoding/maximumNestingDepth``.
        public static let tooDeep = Code(kind: .tooDeep)
        /// A required property is absent.
        public static let missingProperty = Code(kind: .missingProperty)
        /// A property the schema does not define (`additionalProperties: false`).
        public static let unknownProperty = Code(kind: .unknownProperty)
        /// A value has the wrong JSON type.
        public static let typeMismatch = Code(kind: .typeMismatch)
        /// A value breaks a length, range, pattern, format or enumeration rule.
        public static let invalidValue = Code(kind: .invalidValue)
        /// Two attributes disagree (the envelope `subject` or `hotelid` versus `data`).
        public static let inconsistent = Code(kind: .inconsistent)

        /// A snake_case name such as `unknown_property`.
        public var description: String { kind.rawValue }
    }

    /// The kind of fault.
    public let code: Code
    /// Where: member names joined by `.`, array positions as `[n]`, e.g. `data.explanation.matchedTerms[2]`.
    public let path: String
    /// Which rule, in words, e.g. `longer than 16 characters`.
    public let rule: String

    /// Creates an error; `path` is empty for faults of the whole document.
    public init(code: Code, path: String, rule: String) {
        self.code = code
        self.path = path
        self.rule = rule
    }

    init(code: Code, codingPath: [any CodingKey], rule: String) {
        self.init(code: code, path: Self.path(codingPath), rule: rule)
    }

    /// `path: rule`, or just the rule when the fault concerns the whole document.
    public var description: String { path.isEmpty ? rule : "\(path): \(rule)" }

    /// Renders a Codable coding path the way ``path`` documents.
    static func path(_ codingPath: [any CodingKey]) -> String {
        var result = ""
        for key in codingPath {
            if let index = key.intValue, key.stringValue == String(index) || key is IndexKey {
                result += "[\(index)]"
            } else {
                result += result.isEmpty ? key.stringValue : "." + key.stringValue
            }
        }
        return result
    }
}

/// The coding key of an array element.
struct IndexKey: CodingKey {
    let intValue: Int?
    var stringValue: String { String(intValue ?? 0) }

    init(_ index: Int) { intValue = index }
    init?(intValue: Int) { self.intValue = intValue }
    init?(stringValue: String) { nil }
}

/// The coding key of a member whose name is only known at run time.
struct NameKey: CodingKey {
    let stringValue: String
    var intValue: Int? { nil }

    init(_ name: String) { stringValue = name }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
