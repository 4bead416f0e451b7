import ComplaintEvents
import Crypto
import Foundation
import Logging

/// Signed JSON webhooks for integrators, signed the way Stripe signs its own: header
/// `Redress-Signature: t=<unix seconds>,v1=<hex HMAC-SHA-256 of "<t>.<body>" under the endpoint's secret>`,
/// plus `Idempotency-Key` (the same on every attempt) and `Redress-Notification-Id`. Receivers should
/// reject a signature older than five minutes and remember keys they have processed.
public struct WebhookChannel: NotificationChannel {
    var http = HTTPDelivery()
    var now: @Sendable () -> Date = { Date() }
    public let channels: [DeliveryChannel] = [.webhook]

    public init() {}

    /// The body receivers get (documented in services/notifier/README.md).
    struct Body: Encodable {
        var id: String
        var type = "redress.notification.v1"
        var complaintId: String
        var hotelId: String
        var trigger: String
        var causeEventId: String
        var template: String
        var language: String
        var subject: String
        var text: String
        var link: String?
        var category: String?
        var severity: String?
        var department: String?
        var escalationLevel: Int?
        var deadline: Date?
    }

    public func send(_ message: OutgoingMessage, logger: Logger) async throws -> String {
        guard case .endpoint(let endpoint) = message.destination, let secret = endpoint.secret else {
            throw DeliveryFailure.permanent("not_configured", "a webhook needs an endpoint with a secret")
        }
        let intent = message.intent
        let body = Body(
            id: intent.notificationID.uuidString.lowercased(), complaintId: intent.complaintID.uuidString.lowercased(),
            hotelId: intent.hotelID, trigger: intent.trigger, causeEventId: intent.causeEventID.uuidString.lowercased(), template: intent.template, language: message.rendered.language,
            subject: message.rendered.subject, text: message.rendered.text, link: message.link, category: intent.facts.category?.rawValue,
            severity: intent.facts.severity?.rawValue, department: intent.facts.department, escalationLevel: intent.facts.escalationLevel,
            deadline: intent.facts.deadline)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        let bytes = Array(try encoder.encode(body))
        let timestamp = Int64(now().timeIntervalSince1970)
        let signature = Self.signature(body: bytes, timestamp: timestamp, secret: secret)
        let answer = try await http.post(endpoint.url, body: bytes, headers: [
            ("Idempotency-Key", message.idempotencyKey),
            ("Redress-Notification-Id", intent.notificationID.uuidString.lowercased()),
            ("Redress-Signature", "t=\(timestamp),v1=\(signature)"),
        ], timeout: endpoint.timeout, logger: logger)
        return "webhook http \(answer.status)"
    }

    /// Hex HMAC-SHA-256 of `"<timestamp>.<body>"`.
    static func signature(body: [UInt8], timestamp: Int64, secret: String) -> String {
        let signed = Array("\(timestamp).".utf8) + body
        let mac = HMAC<SHA256>.authenticationCode(for: signed, using: SymmetricKey(data: Data(secret.utf8)))
        return mac.map { String(format: "%02x", $0) }.joined()
    }
}
