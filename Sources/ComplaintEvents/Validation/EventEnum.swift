/// A closed vocabulary of the event schemas (a JSON Schema `enum`), spelled as its raw values.
///
/// Decoding an unknown value fails with `must be one of …`, listing the allowed values in schema
/// order, instead of Codable's generic "cannot initialize" message.
public protocol EventEnum: RawRepresentable<String>, CaseIterable, Codable, Hashable, Sendable {}

extension EventEnum {
    public init(from decoder: any Decoder) throws {
        let rawValue = try decoder.singleValueContainer().decode(String.self)
        guard let value = Self(rawValue: rawValue) else {
            throw EventValidationError(
                code: .invalidValue, codingPath: decoder.codingPath,
                rule: "must be one of " + Self.allCases.map(\.rawValue).joined(separator: ", "))
        }
        self = value
    }
}
