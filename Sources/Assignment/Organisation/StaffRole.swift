import ComplaintEvents
import Foundation

/// A person's place in a hotel's hierarchy; VIP and serious complaints need a supervisor or above,
/// and escalations climb to the department head, the duty manager and the general manager.
public enum StaffRole: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    case agent
    case supervisor
    case departmentHead = "department_head"
    case dutyManager = "duty_manager"
    case generalManager = "general_manager"

    private var rank: Int {
        switch self {
        case .agent: 0
        case .supervisor: 1
        case .departmentHead: 2
        case .dutyManager: 3
        case .generalManager: 4
        }
    }

    public static func < (lhs: StaffRole, rhs: StaffRole) -> Bool { lhs.rank < rhs.rank }

    /// The role `complaints.assigned.v1` names for the assignee.
    public var actorRole: ActorRole {
        switch self {
        case .agent: .staff
        case .supervisor: .supervisor
        case .departmentHead: .departmentHead
        case .dutyManager: .dutyManager
        case .generalManager: .generalManager
        }
    }

    /// The staff role that takes an escalation to `role`.
    public init(_ role: EscalationRole) {
        switch role {
        case .departmentHead: self = .departmentHead
        case .dutyManager: self = .dutyManager
        case .generalManager: self = .generalManager
        }
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let role = StaffRole(rawValue: text) else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath,
                debugDescription: "must be one of " + StaffRole.allCases.map(\.rawValue).joined(separator: ", ")))
        }
        self = role
    }

    /// How it reads in an explanation ("duty manager").
    public var words: String { rawValue.replacingOccurrences(of: "_", with: " ") }
}
