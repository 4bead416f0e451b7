/// How badly a complaint harms the stay (轻微/一般/严重); drives priority and SLA targets.
public enum Severity: String, EventEnum {
    /// An inconvenience: slow Wi-Fi, missing toiletries.
    case minor
    /// A failure that harms the stay: broken AC, dirty room, billing error, rude staff.
    case moderate
    /// Safety, health, security or legal exposure, media threat, third complaint of a stay, VIP with a major failure.
    case serious
}
