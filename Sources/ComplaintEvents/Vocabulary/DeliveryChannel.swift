/// How a notification was sent.
public enum DeliveryChannel: String, EventEnum {
    case email
    case sms
    case wechat
    case staffApp = "staff_app"
    /// Written to the notifier log only (development, or no channel configured).
    case log
    case webhook
}
