/// Who a notification was for. Guests are not identified here: their contact details stay in intake.
public struct NotificationRecipient: Codable, Hashable, Sendable {
    public var kind: RecipientKind
    public var staffID: String?
    public var role: ActorRole?

    public init(kind: RecipientKind, staffID: String? = nil, role: ActorRole? = nil) {
        self.kind = kind
        self.staffID = staffID
        self.role = role
    }

    enum CodingKeys: String, CodingKey {
        case kind, staffID = "staffId", role
    }
}

extension NotificationRecipient: ValidatedObject {
    static let fieldRules = FieldRules([CodingKeys.staffID: .identifier])
}
