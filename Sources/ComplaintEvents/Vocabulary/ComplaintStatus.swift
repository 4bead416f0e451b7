/// The state of a complaint after an event.
public enum ComplaintStatus: String, EventEnum {
    case registered
    case assigned
    case acknowledged
    /// Staff wait for the guest; SLA clocks stand still.
    case waitingForGuest = "waiting_for_guest"
    case resolved
    case reopened
    case closed
}
