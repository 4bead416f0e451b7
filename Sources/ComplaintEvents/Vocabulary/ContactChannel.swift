/// How a guest wants to be contacted, or was reached for a follow-up.
public enum ContactChannel: String, EventEnum {
    case phone
    case sms
    case email
    case wechat
    case app
    case inPerson = "in_person"
    /// The guest asked not to be contacted.
    case none
}
