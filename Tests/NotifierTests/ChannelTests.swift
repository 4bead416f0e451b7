import ComplaintEvents
import ComplaintPipeline
import ComplaintTesting
import Crypto
import Foundation
import Logging
@testable import Notifier
import Testing

/// Webhooks, robots and the SMS gateway against a local HTTP receiver that checks each format and
/// signature and answers 500, 429 with Retry-After, a robot error code, or nothing at all.
@Suite("HTTP channels", .timeLimit(.minutes(2)))
struct ChannelTests {
    static func endpoint(_ channel: DeliveryChannel, _ base: String, path: String = "/in", secret: String? = nil, timeout: Duration = .seconds(5)) -> Endpoint {
        Endpoint(name: "test", channel: channel, url: base + path, secret: secret, timeout: timeout)
    }

    static func failure(_ body: () async throws -> Void) async -> WorkFailure? {
        do {
            try await body()
            return nil
        } catch let failure as WorkFailure {
            return failure
        } catch {
            Issue.record("not a WorkFailure: \(error)")
            return nil
        }
    }

    /// The deferral `body` threw (a rate-limit refusal), or nil.
    static func deferral(_ body: () async throws -> Void) async -> WorkDeferral? {
        do {
            try await body()
            Issue.record("delivered, not deferred")
            return nil
        } catch let deferral as WorkDeferral {
            return deferral
        } catch {
            Issue.record("not a WorkDeferral: \(error)")
            return nil
        }
    }

    /// Whether `until` lies `seconds` after a moment between `before` and `after` (when the channel read
    /// its clock): exact however late the test looks at it.
    static func due(_ until: Date?, in seconds: ClosedRange<Double>, after before: Date, before after: Date) -> Bool {
        guard let until else { return false }
        return until >= before.addingTimeInterval(seconds.lowerBound) && until <= after.addingTimeInterval(seconds.upperBound)
    }

    @Test("a webhook is signed over timestamp and body, with the intent's idempotency key")
    func signedWebhook() async throws {
        let receiver = RecordingReceiver()
        try await withLoopbackServer(receiver.router) { base in
            let intent = NotifierFixtures.intent()
            let message = NotifierFixtures.message(intent, to: .endpoint(Self.endpoint(.webhook, base, secret: "whsec_abc")))
            let receipt = try await WebhookChannel().send(message, logger: .complaintTest)
            #expect(receipt == "webhook http 200")
            let request = try #require(await receiver.waitFor(1).first)
            #expect(request.headers["Idempotency-Key"] == intent.idempotencyKey)
            #expect(request.headers["Redress-Notification-Id"] == intent.notificationID.uuidString.lowercased())
            // Verify as a receiver would: t=…,v1=hex(HMAC(secret, "t.body")), and t recent.
            let signature = try #require(request.headers["Redress-Signature"])
            let parts = Dictionary(uniqueKeysWithValues: signature.split(separator: ",").map { pair in
                let kv = pair.split(separator: "=", maxSplits: 1)
                return (String(kv[0]), String(kv[1]))
            })
            let timestamp = try #require(parts["t"].flatMap { Int64($0) })
            #expect(abs(Double(timestamp) - Date().timeIntervalSince1970) < 60)
            let mac = HMAC<SHA256>.authenticationCode(for: Data("\(timestamp).\(request.body)".utf8), using: SymmetricKey(data: Data("whsec_abc".utf8)))
            #expect(parts["v1"] == mac.map { String(format: "%02x", $0) }.joined())
            let wrong = HMAC<SHA256>.authenticationCode(for: Data("\(timestamp).\(request.body)".utf8), using: SymmetricKey(data: Data("other".utf8)))
            #expect(parts["v1"] != wrong.map { String(format: "%02x", $0) }.joined())
            let json = request.json
            #expect(json["id"] as? String == intent.notificationID.uuidString.lowercased())
            #expect(json["complaintId"] as? String == intent.complaintID.uuidString.lowercased())
            #expect(json["type"] as? String == "redress.notification.v1")
            #expect(json["severity"] as? String == "serious")
            #expect(json["subject"] as? String == "Serious complaint 1208")
            #expect(json["link"] as? String == "https://redress.example/c/1")
        }
    }

    @Test("5xx and timeouts are retried, 408/429 after Retry-After, other 4xx given up")
    func httpFailures() async throws {
        let receiver = RecordingReceiver()
        receiver.script(
            .status(503), .status(429, retryAfter: "7"), .status(408, retryAfter: "Wed, 21 Oct 2099 07:28:00 GMT"), .status(400, body: "bad payload"), .hang,
            .trickle(delay: .seconds(10)), .status(200, body: String(repeating: "x", count: 200_000)))
        try await withLoopbackServer(receiver.router) { base in
            let webhook = WebhookChannel()
            // Answers that come at once get 30 s: a loaded machine holding this process's threads must not
            // turn them into timeouts, and an exchange that has its answer ends its connection there and
            // then (BoundedExchangeTests), so the receiver's shutdown does not wait for this deadline.
            let message = NotifierFixtures.message(NotifierFixtures.intent(), to: .endpoint(Self.endpoint(.webhook, base, secret: "s", timeout: .seconds(30))))
            // Three seconds for the cases that wait for it: well under the hang's and the trickle's, well over
            // what other suites in this process (loading models) may hold its threads for.
            let waited = NotifierFixtures.message(NotifierFixtures.intent(), to: .endpoint(Self.endpoint(.webhook, base, secret: "s", timeout: .seconds(3))))
            let unavailable = await Self.failure { _ = try await webhook.send(message, logger: .complaintTest) }
            #expect(unavailable?.isPermanent == false)
            #expect(unavailable?.reason.hasPrefix("[http_503]") == true)
            #expect(unavailable?.retryAfter == nil)
            let limited = await Self.failure { _ = try await webhook.send(message, logger: .complaintTest) }
            #expect(limited?.isPermanent == false)
            #expect(limited?.retryAfter == .seconds(7))
            let timedOut = await Self.failure { _ = try await webhook.send(message, logger: .complaintTest) }
            #expect(timedOut?.retryAfter == .seconds(3600), "an HTTP date far ahead is capped at an hour")
            let bad = await Self.failure { _ = try await webhook.send(message, logger: .complaintTest) }
            #expect(bad?.isPermanent == true)
            #expect(bad?.reason.hasPrefix("[http_400]") == true)
            let hung = await Self.failure { _ = try await webhook.send(waited, logger: .complaintTest) }
            #expect(hung?.isPermanent == false)
            #expect(hung?.reason.hasPrefix("[timeout]") == true)
            // 200 and then a body written slowly: the timeout covers the whole answer, not just its headers.
            let trickled = await Self.failure { _ = try await webhook.send(waited, logger: .complaintTest) }
            #expect(trickled?.reason.hasPrefix("[timeout]") == true, "\(trickled?.reason ?? "delivered")")
            // 200 with a reply longer than is kept: delivered (it used to fail and be sent again up to 30 times).
            let long = await Self.failure { _ = try await webhook.send(message, logger: .complaintTest) }
            #expect(long == nil, "\(long?.reason ?? "")")
            #expect(receiver.requests.count == 7)
        }
        // Nobody listening: retried, and at once. The notifier's HTTP client does not try a refused
        // connection again until the deadline (AsyncHTTPClient's default), which held the worker 10 s.
        let refusedAt = ContinuousClock.now
        let refused = await Self.failure {
            _ = try await WebhookChannel().send(
                NotifierFixtures.message(NotifierFixtures.intent(), to: .endpoint(Self.endpoint(.webhook, "http://127.0.0.1:\(try unusedLoopbackPort())", secret: "s", timeout: .seconds(10)))),
                logger: .complaintTest)
        }
        #expect(refused?.isPermanent == false)
        #expect(refused?.reason.hasPrefix("[connection]") == true)
        #expect(ContinuousClock.now - refusedAt < .seconds(5), "a refused connection fails the attempt at once, not at the 10 s timeout")
    }

    /// A redirect is a wrong URL in the rules file: followed, a 301 turned the POST into a GET without
    /// the body and a 200 to that was recorded `delivered`; a 307 sent the body and the endpoint's headers
    /// (an SMS gateway's API key) to wherever the answer pointed.
    @Test("a redirect is not followed: retried, with where it points in the error, nothing sent there", arguments: [301, 302, 307, 308])
    func redirects(status: Int) async throws {
        let moved = RecordingReceiver()
        let target = RecordingReceiver()
        try await withLoopbackServer(target.router) { targetBase in
            try await withLoopbackServer(moved.router) { base in
                moved.script(.redirect(status, to: targetBase + "/new?api_key=secret-in-url"), .redirect(status, to: "/relative/path"))
                var gateway = Self.endpoint(.sms, base, path: "/sms")
                gateway.body = #"{"to":"{{to}}","message":"{{text}}"}"#
                gateway.headers = ["X-Api-Key": "key-123"]
                let message = NotifierFixtures.message(NotifierFixtures.intent(channel: .sms), to: .phone("+8613800138000", gateway: gateway))
                let failure = await Self.failure { _ = try await SMSGatewayChannel().send(message, logger: .complaintTest) }
                #expect(failure?.isPermanent == false, "retried: fixing the URL brings the message back")
                #expect(failure?.reason.hasPrefix("[http_\(status)] redirected to \(targetBase)/new") == true, "\(failure?.reason ?? "delivered")")
                #expect(failure?.reason.contains("set the endpoint's URL to where it points") == true)
                #expect(failure?.reason.contains("secret-in-url") == false, "a URL's query (a robot's key) stays out of logs and receipts")
                #expect(DeliveryFailure.parse(failure?.reason ?? "").code == "http_\(status)")
                // A relative Location is named in full.
                let relative = await Self.failure {
                    _ = try await WebhookChannel().send(
                        NotifierFixtures.message(NotifierFixtures.intent(), to: .endpoint(Self.endpoint(.webhook, base, secret: "s"))), logger: .complaintTest)
                }
                #expect(relative?.isPermanent == false)
                #expect(relative?.reason.hasPrefix("[http_\(status)] redirected to \(base)/relative/path:") == true, "\(relative?.reason ?? "delivered")")
                #expect(moved.requests.count == 2)
            }
            #expect(target.requests.isEmpty, "no call reaches where the redirect points: \(target.requests.map { "\($0.method) \($0.path)" })")
        }
    }

    @Test("each robot gets its own format; DingTalk's URL and Feishu's body carry valid signatures")
    func robotFormats() async throws {
        let receiver = RecordingReceiver()
        receiver.script(.status(200, body: "ok"), .status(200, body: "1"), .status(200, body: #"{"errcode":0,"errmsg":"ok"}"#),
                        .status(200, body: #"{"errcode":0,"errmsg":"ok"}"#), .status(200, body: #"{"code":0,"msg":"success"}"#))
        try await withLoopbackServer(receiver.router) { base in
            let robot = RobotChannel()
            for channel in [DeliveryChannel.slack, .teams, .wecom, .dingtalk, .feishu] {
                let endpoint = Self.endpoint(channel, base, path: "/\(channel.rawValue)?access_token=abc", secret: channel == .dingtalk || channel == .feishu ? "SEC123" : nil)
                let receipt = try await robot.send(NotifierFixtures.message(NotifierFixtures.intent(channel: channel), to: .endpoint(endpoint)), logger: .complaintTest)
                #expect(receipt == "\(channel.rawValue) http 200")
            }
            let requests = await receiver.waitFor(5)
            let byPath = Dictionary(uniqueKeysWithValues: requests.map { ($0.path, $0) })

            let slack = try #require(byPath["/slack"]?.json)
            #expect((slack["text"] as? String)?.hasPrefix("*Serious complaint 1208*\nThe air conditioning") == true)
            #expect((slack["text"] as? String)?.contains("<https://redress.example/c/1|Serious complaint 1208>") == true)

            let teams = try #require(byPath["/teams"]?.json)
            #expect(teams["type"] as? String == "message")
            let attachment = try #require((teams["attachments"] as? [[String: Any]])?.first)
            #expect(attachment["contentType"] as? String == "application/vnd.microsoft.card.adaptive")
            let card = try #require(attachment["content"] as? [String: Any])
            #expect(card["type"] as? String == "AdaptiveCard")
            #expect(((card["actions"] as? [[String: Any]])?.first?["url"] as? String) == "https://redress.example/c/1")

            let wecom = try #require(byPath["/wecom"]?.json)
            #expect(wecom["msgtype"] as? String == "markdown")
            #expect(((wecom["markdown"] as? [String: Any])?["content"] as? String)?.hasPrefix("**Serious complaint 1208**") == true)

            let ding = try #require(byPath["/dingtalk"])
            #expect((ding.json["msgtype"] as? String) == "markdown")
            let query = Dictionary(uniqueKeysWithValues: ding.query.split(separator: "&").map { pair in
                let kv = pair.split(separator: "=", maxSplits: 1)
                return (String(kv[0]), String(kv[1]))
            })
            #expect(query["access_token"] == "abc")
            let timestamp = try #require(query["timestamp"].flatMap { Int64($0) })
            #expect(abs(Double(timestamp) / 1000 - Date().timeIntervalSince1970) < 60)
            // DingTalk's check: base64(HMAC-SHA256(key: secret, "timestamp\nsecret")), URL-encoded.
            let dingMAC = HMAC<SHA256>.authenticationCode(for: Data("\(timestamp)\nSEC123".utf8), using: SymmetricKey(data: Data("SEC123".utf8)))
            #expect(query["sign"]?.removingPercentEncoding == Data(dingMAC).base64EncodedString())

            let feishu = try #require(byPath["/feishu"]?.json)
            #expect(feishu["msg_type"] as? String == "text")
            #expect(((feishu["content"] as? [String: Any])?["text"] as? String)?.hasPrefix("Serious complaint 1208\n") == true)
            let seconds = try #require((feishu["timestamp"] as? String).flatMap { Int64($0) })
            // Feishu's check: base64(HMAC-SHA256(key: "timestamp\nsecret", empty message)).
            let feishuMAC = HMAC<SHA256>.authenticationCode(for: Data(), using: SymmetricKey(data: Data("\(seconds)\nSEC123".utf8)))
            #expect(feishu["sign"] as? String == Data(feishuMAC).base64EncodedString())
        }
    }

    @Test("robots that answer 200 with an error code: rate limits deferred (DingTalk's for its ten minutes), the rest given up")
    func robotErrorCodes() async throws {
        let receiver = RecordingReceiver()
        receiver.script(.status(200, body: #"{"errcode":45009,"errmsg":"api freq out of limit"}"#),
                        .status(200, body: #"{"errcode":130101,"errmsg":"send too fast, exceed 20 times per minute"}"#),
                        .status(200, body: #"{"code":11232,"msg":"frequency limited"}"#),
                        .status(200, body: #"{"errcode":310000,"errmsg":"sign not match"}"#),
                        .status(200, body: #"{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time"}"#))
        try await withLoopbackServer(receiver.router) { base in
            let robot = RobotChannel()
            var before = Date()
            let limited = await Self.deferral {
                _ = try await robot.send(NotifierFixtures.message(NotifierFixtures.intent(channel: .wecom), to: .endpoint(Self.endpoint(.wecom, base))), logger: .complaintTest)
            }
            #expect(limited?.reason.hasPrefix("[wecom_45009] rate limited") == true)
            #expect(Self.due(limited?.until, in: 60...90, after: before, before: Date()), "a minute, spread by up to half")
            before = Date()
            let tooFast = await Self.deferral {
                _ = try await robot.send(NotifierFixtures.message(NotifierFixtures.intent(channel: .dingtalk), to: .endpoint(Self.endpoint(.dingtalk, base))), logger: .complaintTest)
            }
            #expect(tooFast?.reason.hasPrefix("[dingtalk_130101]") == true)
            #expect(Self.due(tooFast?.until, in: 600...900, after: before, before: Date()), "DingTalk shuts a robot for ten minutes")
            let feishuLimited = await Self.deferral {
                _ = try await robot.send(NotifierFixtures.message(NotifierFixtures.intent(channel: .feishu), to: .endpoint(Self.endpoint(.feishu, base))), logger: .complaintTest)
            }
            #expect(feishuLimited?.reason.hasPrefix("[feishu_11232]") == true)
            let unsigned = await Self.failure {
                _ = try await robot.send(NotifierFixtures.message(NotifierFixtures.intent(channel: .dingtalk), to: .endpoint(Self.endpoint(.dingtalk, base))), logger: .complaintTest)
            }
            #expect(unsigned?.isPermanent == true)
            #expect(unsigned?.reason == "[dingtalk_310000] sign not match")
            let feishu = await Self.failure {
                _ = try await robot.send(NotifierFixtures.message(NotifierFixtures.intent(channel: .feishu), to: .endpoint(Self.endpoint(.feishu, base))), logger: .complaintTest)
            }
            #expect(feishu?.isPermanent == true)
            #expect(feishu?.reason.hasPrefix("[feishu_19021]") == true)
        }
    }

    @Test("a robot's HTTP 429 is deferred until its Retry-After, else a minute or so; a webhook's 429 stays a retried failure")
    func robotHTTP429() async throws {
        let receiver = RecordingReceiver()
        receiver.script(.status(429, body: "rate_limited", retryAfter: "30"), .status(429, body: "Too Many Requests"))
        try await withLoopbackServer(receiver.router) { base in
            let robot = RobotChannel()
            let message = NotifierFixtures.message(NotifierFixtures.intent(channel: .slack), to: .endpoint(Self.endpoint(.slack, base, path: "/slack")))
            var before = Date()
            let asked = await Self.deferral { _ = try await robot.send(message, logger: .complaintTest) }
            #expect(asked?.reason.hasPrefix("[http_429] rate limited") == true, "\(asked?.reason ?? "")")
            #expect(Self.due(asked?.until, in: 30...30, after: before, before: Date()), "its Retry-After")
            before = Date()
            let unsaid = await Self.deferral { _ = try await robot.send(message, logger: .complaintTest) }
            #expect(Self.due(unsaid?.until, in: 60...90, after: before, before: Date()))
        }
    }

    @Test("a robot still refusing for its rate limit hours after the event: the refusal counts as an attempt again")
    func rateLimitPatience() async throws {
        let receiver = RecordingReceiver()
        receiver.script(.status(200, body: #"{"errcode":45009,"errmsg":"api freq out of limit"}"#))
        try await withLoopbackServer(receiver.router) { base in
            var intent = NotifierFixtures.intent(channel: .wecom)
            intent.causeTime = Date().addingTimeInterval(-7 * 3600)
            let failed = await Self.failure {
                _ = try await RobotChannel().send(NotifierFixtures.message(intent, to: .endpoint(Self.endpoint(.wecom, base))), logger: .complaintTest)
            }
            #expect(failed?.isPermanent == false)
            #expect(failed?.reason.hasPrefix("[wecom_45009]") == true && failed?.reason.contains("counted as an attempt") == true, "\(failed?.reason ?? "")")
            #expect(failed?.retryAfter.map { $0 >= .seconds(59) } == true)
        }
    }

    @Test("SMS goes through the gateway's body template, JSON-escaped, with its API key header")
    func smsGateway() async throws {
        let receiver = RecordingReceiver()
        try await withLoopbackServer(receiver.router) { base in
            var gateway = Self.endpoint(.sms, base, path: "/sms")
            gateway.body = #"{"to":"{{to}}","message":"{{text}}","sender":"REDRESS"}"#
            gateway.headers = ["X-Api-Key": "key-123"]
            var message = NotifierFixtures.message(NotifierFixtures.intent(channel: .sms), to: .phone("+8613800138000", gateway: gateway))
            message.rendered.text = "他说：\"空调\" 坏了\n请处理"
            #expect(try await SMSGatewayChannel().send(message, logger: .complaintTest) == "sms http 200")
            let request = try #require(await receiver.waitFor(1).first)
            #expect(request.headers["X-Api-Key"] == "key-123")
            #expect(request.json["to"] as? String == "+8613800138000")
            #expect(request.json["message"] as? String == "Serious complaint 1208\n他说：\"空调\" 坏了\n请处理")
            #expect(request.json["sender"] as? String == "REDRESS")

            // A refusal that quotes the message (with the guest's name) and the number without its '+':
            // neither reaches the reason, which goes to logs, last_error and receipts on Kafka.
            receiver.script(.status(400, body: #"{"error":"invalid destination 8613800138000 for message 'Dear Ms Li Wei …'"}"#))
            let refused = await Self.failure { _ = try await SMSGatewayChannel().send(message, logger: .complaintTest) }
            #expect(refused?.isPermanent == true)
            #expect(refused?.reason.hasPrefix("[http_400] the receiver answered 400") == true, "\(refused?.reason ?? "")")
            #expect(refused?.reason.contains("8613800138000") == false && refused?.reason.contains("Li Wei") == false, "\(refused?.reason ?? "")")
            #expect(SMSGatewayChannel.withoutNumbers("no route to 86 138-0013 8000 (id 42)") == "no route to <number> (id 42)")
        }
    }

    @Test("failure codes survive the work queue's wording")
    func failureCodes() {
        #expect(DeliveryFailure.parse("gave up after 8 attempts: [http_503] the receiver answered 503").code == "http_503")
        #expect(DeliveryFailure.parse("[smtp_550] SMTP rcpt to: …").code == "smtp_550")
        #expect(DeliveryFailure.parse("something else").code == "error")
        let reason = "gave up after 8 attempts: [connection] could not reach the receiver \(DeliveryFailure.viaMarker(.sms))"
        #expect(DeliveryFailure.parse(reason).code == "connection")
        #expect(DeliveryFailure.channel(in: reason) == .sms)
        #expect(DeliveryFailure.channel(in: "[http_503] no marker") == nil)
        // A robot's message quoted whole, with CRLF line ends: "\r\n" is one Character but two scalars, and
        // the receipt's rule counts scalars (a message it refused could never be recorded).
        let stack = "[robot_500] " + String(repeating: "at frame\r\n", count: 300)
        #expect(DeliveryFailure.parse(stack).message.unicodeScalars.count == 1000)
    }
}
