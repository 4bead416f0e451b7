/// Why a notification could not be delivered.
public struct NotificationFailure: Codable, Hashable, Sendable {
    /// A channel-specific code, e.g. `smtp_550`, `timeout`, `no_contact_details`.
    public var code: String
    public var message: String
    /// Whether the notifier will try again.
    public var isRetriable: Bool

    public init(code: String, message: String, isRetriable: Bool) {
        self.code = code
        self.message = message
        self.isRetriable = isRetriable
    }

    enum CodingKeys: String, CodingKey {
        case code, message, isRetriable = "retriable"
    }
}

extension NotificationFailure: ValidatedObject {
    static let fieldRules = FieldRules([CodingKeys.code: .code, .message: .text(maxLength: 1000)])
}
