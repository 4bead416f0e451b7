/// Facts about a complaint that raise its priority or call for special handling.
public struct ClassificationFlags: Codable, Hashable, Sendable {
    public var isVIP: Bool
    /// The same guest complained before (same guest key) during this stay or recently.
    public var isRepeat: Bool
    /// Safety, health or security is involved.
    public var involvesSafety: Bool
    /// The guest threatens a public review or media attention.
    public var threatensReview: Bool
    /// The classifier is unsure; a person should confirm the category and severity.
    public var needsHumanReview: Bool

    public init(isVIP: Bool, isRepeat: Bool, involvesSafety: Bool, threatensReview: Bool, needsHumanReview: Bool) {
        self.isVIP = isVIP
        self.isRepeat = isRepeat
        self.involvesSafety = involvesSafety
        self.threatensReview = threatensReview
        self.needsHumanReview = needsHumanReview
    }

    enum CodingKeys: String, CodingKey {
        case isVIP = "vip", isRepeat = "repeat", involvesSafety = "safety", threatensReview = "reviewThreat", needsHumanReview
    }
}
