/// Why a resolved complaint was reopened.
public struct Reopening: Codable, Hashable, Sendable {
    public var trigger: ReopenTrigger
    public var reason: String

    public init(trigger: ReopenTrigger, reason: String) {
        self.trigger = trigger
        self.reason = reason
    }
}

extension Reopening: ValidatedObject {
    static let fieldRules = FieldRules([CodingKeys.reason: .text(maxLength: 1000)])
}
