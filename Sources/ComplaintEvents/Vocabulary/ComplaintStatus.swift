/// The state of a complaint after an event.
public enum ComplaintStatus: String, EventEnum {
    case registered
    case assigned
    case acknowledged
    case resolved
    case reopened
    case closed
}
