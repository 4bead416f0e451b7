/// One step up the escalation chain.
public struct Escalation: Codable, Hashable, Sendable {
    /// 1 = duty manager, 2 = department head, 3 = general manager.
    public var level: Int
    public var escalateTo: EscalationRole

    public init(level: Int, escalateTo: EscalationRole) {
        self.level = level
        self.escalateTo = escalateTo
    }
}

extension Escalation: ValidatedObject {
    static let fieldRules = FieldRules([CodingKeys.level: .integer(1...3)])
}
