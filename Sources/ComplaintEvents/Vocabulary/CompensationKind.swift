/// The form of a service-recovery compensation.
public enum CompensationKind: String, EventEnum {
    case refund
    case voucher
    case upgrade
    case points
    case other
}
