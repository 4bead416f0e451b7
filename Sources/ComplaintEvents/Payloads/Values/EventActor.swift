/// Who performed a staff action on a complaint, and in which role.
public struct EventActor: Codable, Hashable, Sendable {
    /// Staff id, `guest`, or the acting service's name.
    public var id: String
    public var role: ActorRole
    public var name: String?

    public init(id: String, role: ActorRole, name: String? = nil) {
        self.id = id
        self.role = role
        self.name = name
    }
}

extension EventActor: ValidatedObject {
    static let fieldRules = FieldRules([CodingKeys.id: .identifier, .name: .name])
}
