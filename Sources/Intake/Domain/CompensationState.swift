/// Where a compensation stands (`intake.compensations.state`): approved at once within the
/// requester's authority, else pending until a manager decides.
public enum CompensationState: String, Sendable, Hashable, Codable, CaseIterable {
    case pending, approved, rejected
}
