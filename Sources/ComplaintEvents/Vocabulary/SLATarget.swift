/// The deadline an SLA event is about.
public enum SLATarget: String, EventEnum {
    /// Acknowledge-by (from registration).
    case acknowledge
    /// Resolve-by (from registration).
    case resolve
    /// Follow up with the guest after resolution.
    case followup
    /// The absolute ceiling: no complaint open past it without general-manager escalation.
    case ceiling
}
