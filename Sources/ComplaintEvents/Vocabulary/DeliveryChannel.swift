/// How a notification was sent.
public enum DeliveryChannel: String, EventEnum {
    case email
    case sms
    case wechat
    case staffApp = "staff_app"
    /// Written to the notifier log only (development, or no channel configured).
    case log
    case webhook
    /// Chat-group robots: Slack-compatible incoming webhooks, Microsoft Teams, WeCom (企业微信), DingTalk (钉钉), Feishu (飞书).
    case slack
    case teams
    case wecom
    case dingtalk
    case feishu
}
