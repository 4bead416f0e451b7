import ComplaintEvents
import Foundation
import Logging

/// E-mail over SMTP: multipart text + HTML in the message's language, with a `Message-ID` made from the
/// notification id (the same on every attempt, so a repeated send after a crash is recognisably the same
/// message to the server's and the reader's duplicate detection).
public struct EmailChannel: NotificationChannel {
    var client: SMTPClient
    var sender: MailAddress
    /// The right-hand side of Message-IDs.
    var messageIDDomain: String
    var now: @Sendable () -> Date = { Date() }
    public let channels: [DeliveryChannel] = [.email]

    public init(client: SMTPClient, sender: MailAddress, messageIDDomain: String) {
        self.client = client
        self.sender = sender
        self.messageIDDomain = messageIDDomain
    }

    public func send(_ message: OutgoingMessage, logger: Logger) async throws -> String {
        guard case .email(let address) = message.destination, MailAddress.isAddress(address) else {
            throw DeliveryFailure.permanent("invalid_address", "not a usable e-mail address")
        }
        var mail = MailMessage(
            from: sender, to: MailAddress(address), subject: message.rendered.subject, text: message.rendered.text,
            html: message.rendered.html, messageID: "\(message.intent.notificationID.uuidString.lowercased())@\(messageIDDomain)",
            date: now(), language: message.rendered.language)
        mail.extraHeaders = [("X-Redress-Idempotency-Key", message.idempotencyKey)]
        do {
            let reply = try await client.send(from: sender.address, to: [address], message: mail.rendered, logger: logger)
            return "email \(reply.code) \(reply.lines.last ?? "")".prefix(200).description
        } catch let failure as SMTPClient.Failure {
            let code = failure.reply.map { "smtp_\($0.code)" } ?? "smtp_\(failure.kind)"
            // A server's refusal often quotes the address: receipts and logs never carry it.
            // In any case: a server may lower-case it.
            let reason = failure.description.replacingOccurrences(of: address, with: "<recipient>", options: .caseInsensitive).prefix(500).description
            throw failure.isPermanent ? DeliveryFailure.permanent(code.lowercased(), reason) : DeliveryFailure.transient(code.lowercased(), reason)
        }
    }
}
