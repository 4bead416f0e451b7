/// The guest's answer to the follow-up call or survey after resolution.
public struct FollowUp: Codable, Hashable, Sendable {
    /// 1 (very dissatisfied) to 5 (very satisfied).
    public var satisfaction: Int
    /// Likelihood to recommend, 0 to 10 (Net Promoter Score question).
    public var nps: Int
    /// The guest's own words, in their language.
    public var comment: String?
    /// How the guest was reached.
    public var channel: ContactChannel?

    public init(satisfaction: Int, nps: Int, comment: String? = nil, channel: ContactChannel? = nil) {
        self.satisfaction = satisfaction
        self.nps = nps
        self.comment = comment
        self.channel = channel
    }
}

extension FollowUp: ValidatedObject {
    static let fieldRules = FieldRules([
        CodingKeys.satisfaction: .integer(1...5),
        .nps: .integer(0...10),
        .comment: .text(maxLength: 2000),
    ])
}
