/// The person who owns a complaint after assignment.
public struct Assignee: Codable, Hashable, Sendable {
    public var staffID: String
    public var name: String
    public var role: ActorRole

    public init(staffID: String, name: String, role: ActorRole) {
        self.staffID = staffID
        self.name = name
        self.role = role
    }

    enum CodingKeys: String, CodingKey {
        case staffID = "staffId", name, role
    }
}

extension Assignee: ValidatedObject {
    static let fieldRules = FieldRules([CodingKeys.staffID: .identifier, .name: .name])
}
