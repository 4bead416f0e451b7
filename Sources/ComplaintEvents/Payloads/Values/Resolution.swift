/// How a complaint was resolved, and what caused it (for the top-root-causes KPI).
public struct Resolution: Codable, Hashable, Sendable {
    public var text: String
    /// A configured root-cause code, e.g. `hvac_failure`, `housekeeping_missed`.
    public var rootCause: String
    /// Resolved by the first person the guest reached, without hand-over (first-contact resolution).
    public var isFirstContact: Bool

    public init(text: String, rootCause: String, isFirstContact: Bool) {
        self.text = text
        self.rootCause = rootCause
        self.isFirstContact = isFirstContact
    }

    enum CodingKeys: String, CodingKey {
        case text, rootCause, isFirstContact = "firstContact"
    }
}

extension Resolution: ValidatedObject {
    static let fieldRules = FieldRules([CodingKeys.text: .text(maxLength: 4000), .rootCause: .code])
}
