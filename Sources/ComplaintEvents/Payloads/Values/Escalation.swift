/// One step up the escalation chain.
public struct Escalation: Codable, Hashable, Sendable {
    /// 1–3: the step of the hotel's escalation chain. Who takes it is the assignment service's per-hotel chain
    /// (by default 1 department head, 2 duty manager, 3 general manager).
    public var level: Int
    /// The role the SLA policy names for this level, for readers of the event.
    public var escalateTo: EscalationRole

    public init(level: Int, escalateTo: EscalationRole) {
        self.level = level
        self.escalateTo = escalateTo
    }
}

extension Escalation: ValidatedObject {
    static let fieldRules = FieldRules([CodingKeys.level: .integer(1...3)])
}
