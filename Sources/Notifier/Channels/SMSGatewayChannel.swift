import ComplaintEvents
import ComplaintPipeline
import Foundation
import Logging
import Mustache

/// SMS through a configurable HTTP gateway: the endpoint's `body` template (mustache, with `{{to}}`
/// and `{{text}}` JSON-escaped) is POSTed to its URL with its headers (an API key from the environment).
/// The gateway's answer is treated like any HTTP receiver's.
public struct SMSGatewayChannel: NotificationChannel {
    var http = HTTPDelivery()
    public let channels: [DeliveryChannel] = [.sms]

    public init() {}

    public func send(_ message: OutgoingMessage, logger: Logger) async throws -> String {
        guard case .phone(let number, let gateway) = message.destination, let template = gateway.body else {
            throw DeliveryFailure.permanent("not_configured", "sms needs a phone number and a gateway endpoint with a body")
        }
        let body = try Self.body(template: template, to: number, text: message.rendered.subject + "\n" + message.rendered.text)
        var headers = gateway.headers.map { ($0.key, $0.value) }
        headers.append(("Idempotency-Key", message.idempotencyKey))
        do {
            let answer = try await http.post(
                gateway.url, body: Array(body.utf8), headers: headers, timeout: gateway.timeout, quotesAnswer: false, logger: logger)
            return "sms http \(answer.status)"
        } catch let failure as WorkFailure {
            // Receipts and logs never carry the number, in whatever form an error quotes it.
            var scrubbed = failure
            scrubbed.reason = Self.withoutNumbers(failure.reason.replacingOccurrences(of: number, with: "<recipient>"))
            throw scrubbed
        }
    }

    /// `text` with every run of seven or more digits, single spaces or dashes between them allowed (a
    /// phone number with or without its `+`), replaced by `<number>`.
    static func withoutNumbers(_ text: String) -> String {
        text.replacing(/\+?\d(?:[ \-]?\d){6,}/, with: "<number>")
    }

    static func body(template: String, to: String, text: String) throws -> String {
        let compiled = try MustacheTemplate(string: "{{% CONTENT_TYPE: TEXT}}" + template)
        return compiled.render(["to": jsonEscaped(to), "text": jsonEscaped(text.trimmingCharacters(in: .whitespacesAndNewlines))])
    }

    /// The inside of a JSON string literal for `text`.
    static func jsonEscaped(_ text: String) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: [text], options: [.withoutEscapingSlashes]),
              let array = String(data: data, encoding: .utf8)
        else { return "" }
        // ["…"] → …
        return String(array.dropFirst(2).dropLast(2))
    }
}
