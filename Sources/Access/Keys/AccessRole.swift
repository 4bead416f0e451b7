import ComplaintEvents

/// What an API credential may do. Roles are ordered: each can do what the one before it can, except
/// that a `publisher` (another system) may only submit.
public enum AccessRole: String, Sendable, Codable, CaseIterable, Comparable {
    /// Submits complaints (PMS, WeChat gateway, review monitor); cannot read them back.
    case publisher
    /// Reads its hotels' complaints and acts on them within a compensation authority.
    case staff
    /// Staff, plus approving or rejecting compensation above staff authority.
    case manager
    /// Every hotel, every action.
    case admin

    private var rank: Int {
        switch self {
        case .publisher: 0
        case .staff: 1
        case .manager: 2
        case .admin: 3
        }
    }

    public static func < (lhs: AccessRole, rhs: AccessRole) -> Bool { lhs.rank < rhs.rank }

    /// The role recorded on the timeline and in `complaints.updated.v1`.
    public var actorRole: ActorRole {
        switch self {
        case .publisher: .system
        case .staff: .staff
        case .manager: .dutyManager
        case .admin: .generalManager
        }
    }
}
