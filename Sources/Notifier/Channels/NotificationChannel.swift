import ComplaintEvents
import ComplaintPipeline
import Foundation
import Logging

/// A way of delivering a rendered message — e-mail, SMS, a robot group, a webhook — picked by the
/// intent's ``ComplaintEvents/DeliveryChannel``. Adding a channel is adding one of these to
/// ``NotifierService``'s registry; nothing else changes.
///
/// ``send(_:logger:)`` runs outside any transaction and may be repeated after a crash, always with the
/// same ``OutgoingMessage/idempotencyKey``; it throws ``ComplaintPipeline/WorkFailure`` to say whether
/// to retry, with the reason starting with a `[code]` that the receipt carries (`[http_503]`, `[smtp_550]`).
public protocol NotificationChannel: Sendable {
    /// The channels this implementation delivers.
    var channels: [DeliveryChannel] { get }

    /// Delivers `message`; returns a short receipt (an SMTP queue id, an HTTP status), never the message.
    func send(_ message: OutgoingMessage, logger: Logger) async throws -> String
}

/// A rendered message with where it goes and the key that makes a repeat recognisable.
public struct OutgoingMessage: Sendable {
    public var intent: NotificationIntent
    public var channel: DeliveryChannel
    public var rendered: RenderedMessage
    public var destination: Destination
    /// The staff link or the guest's survey link, if the message has one.
    public var link: String?

    public var idempotencyKey: String { intent.idempotencyKey }

    /// Where a message goes.
    public enum Destination: Sendable {
        case email(String)
        /// A phone number, through the SMS gateway endpoint.
        case phone(String, gateway: Endpoint)
        case endpoint(Endpoint)

        /// The endpoint the call goes to (a robot, a webhook, the SMS gateway), if any.
        public var endpoint: Endpoint? {
            switch self {
            case .email: nil
            case .phone(_, let gateway): gateway
            case .endpoint(let endpoint): endpoint
            }
        }
    }
}

/// A delivery failure with its receipt code, as ``NotificationChannel``s throw them.
enum DeliveryFailure {
    static func permanent(_ code: String, _ message: String) -> WorkFailure { .permanent("[\(code)] \(message)") }
    static func transient(_ code: String, _ message: String, retryAfter: Duration? = nil) -> WorkFailure {
        .transient("[\(code)] \(message)", retryAfter: retryAfter)
    }

    /// Not a failure: the message waits until `until`, a time the database gave (a pacing place, a robot's
    /// hold), without using an attempt.
    static func deferred(_ code: String, _ message: String, until: Date) -> WorkDeferral {
        WorkDeferral(reason: "[\(code)] \(message)", until: until)
    }

    /// Not a failure: the message waits `wait` from the database's now without using an attempt (a
    /// receiver's `Retry-After`, a robot's refusal, the rest of the quiet hours): a time of this process's
    /// clock would be off by the difference between the clocks.
    static func deferred(_ code: String, _ message: String, after wait: Duration) -> WorkDeferral {
        WorkDeferral(reason: "[\(code)] \(message)", after: max(wait, .zero))
    }

    /// Appended to a failure's reason: the channel the attempt used (`[via sms]`).
    static func viaMarker(_ channel: DeliveryChannel) -> String { "[via \(channel.rawValue)]" }

    /// The channel a stored reason says the attempt used.
    static func channel(in reason: String) -> DeliveryChannel? {
        guard let open = reason.range(of: "[via ", options: .backwards), let close = reason[open.upperBound...].firstIndex(of: "]") else { return nil }
        return DeliveryChannel(rawValue: String(reason[open.upperBound..<close]))
    }

    /// The code and message of a stored reason (`gave up after 3 attempts: [http_503] …` → `http_503`).
    static func parse(_ reason: String) -> (code: String, message: String) {
        if let open = reason.firstIndex(of: "["), let close = reason[open...].firstIndex(of: "]") {
            let code = String(reason[reason.index(after: open)..<close])
            if !code.isEmpty, code.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "_" }) {
                return (code, reason.storable(maximumScalars: 1000))
            }
        }
        // Scalars, as the receipt's rule counts them ("\r\n" is one Character, two scalars): a message
        // the event refused could never be recorded, and its worker would stop.
        return ("error", reason.storable(maximumScalars: 1000))
    }
}
