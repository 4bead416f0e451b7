import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import Crypto
import Foundation
import Logging

/// Chat-group robots, each in its own message format: Slack-compatible incoming webhooks, Microsoft
/// Teams (an Adaptive Card), WeCom 企业微信 (markdown), DingTalk 钉钉 (markdown, signed URL) and Feishu
/// 飞书 (text, signed body). The robots that answer HTTP 200 with an error code in the body (WeCom,
/// DingTalk, Feishu) are read for it: other codes are given up, but a rate-limit refusal — that code, or
/// an HTTP 429 (Slack, Teams, Feishu) — says "not now", not "failed": the message is deferred
/// (``ComplaintPipeline/WorkDeferral``, no attempt used) until the robot's `Retry-After`, else for
/// ``rateLimitWait(for:)``. After ``rateLimitPatience`` a refusal counts as a failed attempt again, so a
/// robot that never stops refusing does not keep a message for ever.
public struct RobotChannel: NotificationChannel {
    var http = HTTPDelivery()
    var now: @Sendable () -> Date = { Date() }
    public let channels: [DeliveryChannel] = [.slack, .teams, .wecom, .dingtalk, .feishu]

    public init() {}

    public func send(_ message: OutgoingMessage, logger: Logger) async throws -> String {
        guard case .endpoint(let endpoint) = message.destination else {
            throw DeliveryFailure.permanent("not_configured", "a robot needs an endpoint")
        }
        let request = try Self.request(for: message, endpoint: endpoint, now: now())
        do {
            let answer = try await http.post(
                request.url, body: request.body, headers: [], timeout: endpoint.timeout, rateLimitWait: Self.rateLimitWait(for: endpoint.channel),
                logger: logger)
            try Self.checkAnswer(answer, channel: endpoint.channel)
            return "\(endpoint.channel.rawValue) http \(answer.status)"
        } catch let deferral as WorkDeferral where now().timeIntervalSince(message.intent.causeTime) > Double(Self.rateLimitPatience.milliseconds) / 1000 {
            // The deferral's wait (made with one: its time is this process's now plus the wait).
            let wait = Duration.milliseconds(Int64(max(0, deferral.until.timeIntervalSinceNow) * 1000))
            throw WorkFailure.transient("\(deferral.reason) (still refused \(Self.rateLimitPatience.components.seconds / 3600) h after the event: counted as an attempt)", retryAfter: wait)
        }
    }

    /// How long after its cause a message stops being deferred for a robot's rate limit and each
    /// refusal uses an attempt (a robot refusing for hours is flooded or broken, not briefly busy).
    static let rateLimitPatience: Duration = .seconds(6 * 3600)

    /// How long a robot that refused for its rate limit without saying how long is left alone: DingTalk
    /// holds a robot for ten minutes after it exceeds 20 a minute, the others count per minute. Up to half
    /// as long again, at random, so that many messages refused together do not come back together.
    static func rateLimitWait(for channel: DeliveryChannel) -> Duration {
        let base: Int64 = channel == .dingtalk ? 600 : 60
        return .seconds(base + Int64.random(in: 0...(base / 2)))
    }

    /// The robots' "too fast" codes: WeCom 45009, DingTalk 130101, Feishu 9499 and 11232.
    static let rateLimitCodes: Set<Int> = [45009, 130101, 9499, 11232]

    /// The URL and JSON body for `message` in `endpoint`'s format.
    static func request(for message: OutgoingMessage, endpoint: Endpoint, now: Date) throws -> (url: String, body: [UInt8]) {
        let subject = message.rendered.subject
        let text = message.rendered.text.trimmingCharacters(in: .whitespacesAndNewlines)
        let linkLine = message.link.map { "\n\n\($0)" } ?? ""
        var url = endpoint.url
        let body: [String: Any]
        switch endpoint.channel {
        case .slack:
            let link = message.link.map { "\n<\($0)|\(subject)>" } ?? ""
            body = ["text": "*\(subject)*\n\(text)\(link)"]
        case .teams:
            var card: [String: Any] = [
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard", "version": "1.4",
                "body": [
                    ["type": "TextBlock", "size": "Medium", "weight": "Bolder", "text": subject, "wrap": true],
                    ["type": "TextBlock", "text": text, "wrap": true],
                ],
            ]
            if let link = message.link { card["actions"] = [["type": "Action.OpenUrl", "title": "Open", "url": link]] }
            body = ["type": "message", "attachments": [["contentType": "application/vnd.microsoft.card.adaptive", "content": card]]]
        case .wecom:
            body = ["msgtype": "markdown", "markdown": ["content": "**\(subject)**\n\(text)\(linkLine)"]]
        case .dingtalk:
            if let secret = endpoint.secret {
                let timestamp = Int64(now.timeIntervalSince1970 * 1000)
                let sign = dingTalkSignature(timestamp: timestamp, secret: secret)
                url += (url.contains("?") ? "&" : "?") + "timestamp=\(timestamp)&sign=\(sign)"
            }
            body = ["msgtype": "markdown", "markdown": ["title": subject, "text": "### \(subject)\n\n\(text)\(linkLine)"]]
        case .feishu:
            var feishu: [String: Any] = ["msg_type": "text", "content": ["text": "\(subject)\n\(text)\(linkLine)"]]
            if let secret = endpoint.secret {
                let timestamp = Int64(now.timeIntervalSince1970)
                feishu["timestamp"] = String(timestamp)
                feishu["sign"] = feishuSignature(timestamp: timestamp, secret: secret)
            }
            body = feishu
        default:
            throw DeliveryFailure.permanent("not_configured", "\(endpoint.channel.rawValue) is not a robot")
        }
        return (url, Array(try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys, .withoutEscapingSlashes])))
    }

    /// DingTalk: base64 HMAC-SHA-256 of `"<ms>\n<secret>"` under the secret, URL-encoded.
    static func dingTalkSignature(timestamp: Int64, secret: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(timestamp)\n\(secret)".utf8), using: SymmetricKey(data: Data(secret.utf8)))
        let base64 = Data(mac).base64EncodedString()
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return base64.addingPercentEncoding(withAllowedCharacters: allowed) ?? base64
    }

    /// Feishu: base64 HMAC-SHA-256 of nothing under the key `"<seconds>\n<secret>"`.
    static func feishuSignature(timestamp: Int64, secret: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data(), using: SymmetricKey(data: Data("\(timestamp)\n\(secret)".utf8)))
        return Data(mac).base64EncodedString()
    }

    /// WeCom, DingTalk and Feishu answer 200 with `errcode`/`code` in the body: a rate limit is deferred
    /// (``rateLimitCodes``), any other code given up.
    static func checkAnswer(_ answer: HTTPDelivery.Answer, channel: DeliveryChannel) throws {
        guard [.wecom, .dingtalk, .feishu].contains(channel) else { return }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(answer.body.utf8))) as? [String: Any] else {
            throw DeliveryFailure.transient("\(channel.rawValue)_unreadable", "the robot's answer is not JSON")
        }
        let code = (object["errcode"] as? Int) ?? (object["code"] as? Int) ?? (object["StatusCode"] as? Int) ?? 0
        guard code != 0 else { return }
        let message = (object["errmsg"] as? String) ?? (object["msg"] as? String) ?? ""
        if Self.rateLimitCodes.contains(code) {
            let wait = Self.rateLimitWait(for: channel)
            throw DeliveryFailure.deferred("\(channel.rawValue)_\(code)", "rate limited: \(message)", after: wait)
        }
        throw DeliveryFailure.permanent("\(channel.rawValue)_\(code)", message)
    }
}
