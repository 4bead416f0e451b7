import AsyncHTTPClient
import ComplaintPipeline
import ComplaintStore
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// One JSON POST to a receiver — a webhook, a robot, an SMS gateway — with the retry rules every HTTP
/// channel shares: 2xx delivered; 3xx retried (a wrong URL, never followed); 408 and 429 retried after
/// `Retry-After` (a robot's 429 deferred instead: see `rateLimitWait`); other 4xx given up (retrying
/// cannot help); 5xx, timeouts and refused connections retried with backoff.
struct HTTPDelivery: Sendable {
    /// ``AsyncHTTPClient/HTTPClient/outboundFailingFast``: a refused connection fails the attempt at once (the
    /// notifier's backoff retries it) instead of holding the delivery worker, and every message behind it,
    /// for the whole `timeoutSeconds`; a redirect is never followed (a 3xx is a retried failure, see `post`).
    var client: HTTPClient = .outboundFailingFast

    struct Answer: Sendable {
        var status: Int
        var body: String
    }

    /// - Parameter quotesAnswer: Whether a 4xx's reason quotes the start of the receiver's answer (an SMS
    ///   gateway's may quote the message, with the guest's name, or the number: not for receipts and logs).
    /// - Parameter rateLimitWait: When set, a 429 is a ``ComplaintPipeline/WorkDeferral`` (the receiver is
    ///   busy, the message is fine: no attempt used) until its `Retry-After` (or Feishu's
    ///   `x-ogw-ratelimit-reset`), else for this long; when `nil`, a 429 is a retried failure.
    func post(
        _ url: String, body: [UInt8], headers: [(String, String)], timeout: Duration, quotesAnswer: Bool = true,
        rateLimitWait: Duration? = nil, logger: Logger
    ) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
        request.headers.add(name: "User-Agent", value: "redress-notifier")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response: BoundedAnswer
        do {
            // The whole exchange within the timeout, body included; a long reply is cut, not a failure.
            response = try await client.boundedExchange(request, timeout: timeout, maximumBodySize: 64 * 1024, logger: logger)
        } catch is DeadlineExceeded {
            throw DeliveryFailure.transient("timeout", "no answer within \(timeout)")
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            throw DeliveryFailure.transient("timeout", "no answer within \(timeout)")
        } catch let error as HTTPClientError where error == .invalidURL {
            throw DeliveryFailure.permanent("invalid_url", "the endpoint URL is not usable")
        } catch {
            throw DeliveryFailure.transient("connection", "could not reach the receiver (\(type(of: error)): \(error))")
        }
        let answer = String(buffer: response.body)
        let status = response.status
        switch status {
        case 200..<300:
            return Answer(status: status, body: answer)
        case 300..<400:
            // Not followed (see `client`): the endpoint's URL is wrong, a deployment mistake that fixing the
            // rules file mends, so the message is retried meanwhile rather than given up.
            let target = Self.redirectTarget(response.headers.first(name: "Location"), from: url)
            throw DeliveryFailure.transient(
                "http_\(status)",
                target.map { "redirected to \($0): set the endpoint's URL to where it points (redirects are not followed)" }
                    ?? "the receiver answered \(status) without a Location (redirects are not followed)")
        case 429 where rateLimitWait != nil:
            let asked = Self.retryAfter(response.headers.first(name: "Retry-After"))
                ?? Self.retryAfter(response.headers.first(name: "x-ogw-ratelimit-reset"))
            let wait = asked ?? rateLimitWait ?? .seconds(60)
            throw DeliveryFailure.deferred(
                "http_429", "rate limited: the receiver answered 429; again in \(wait.components.seconds) s", after: wait)
        case 408, 429:
            let wait = Self.retryAfter(response.headers.first(name: "Retry-After"))
            throw DeliveryFailure.transient("http_\(status)", "the receiver answered \(status)\(wait.map { "; retry after \($0)" } ?? "")", retryAfter: wait)
        case 500..<600:
            throw DeliveryFailure.transient("http_\(status)", "the receiver answered \(status)")
        default:
            throw DeliveryFailure.permanent("http_\(status)", "the receiver answered \(status)" + (quotesAnswer ? ": \(answer.prefix(200))" : ""))
        }
    }

    /// Where a redirect points, for its error: resolved against the endpoint's URL, without its query,
    /// fragment or user info (a robot's URL carries its key or access token in its query, and the error
    /// goes to logs and receipts), at most 200 characters.
    static func redirectTarget(_ location: String?, from url: String) -> String? {
        guard let location = location?.trimmingCharacters(in: .whitespaces), !location.isEmpty,
              let resolved = URL(string: location, relativeTo: URL(string: url))?.absoluteURL,
              var parts = URLComponents(url: resolved, resolvingAgainstBaseURL: false)
        else { return nil }
        let cut = parts.query != nil
        parts.query = nil
        parts.fragment = nil
        parts.user = nil
        parts.password = nil
        guard let text = parts.string else { return nil }
        return String(text.prefix(200)) + (cut ? "?… (its query left out)" : "")
    }

    /// `Retry-After` as seconds or an HTTP date; at most an hour.
    static func retryAfter(_ value: String?) -> Duration? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if let seconds = Int64(value), seconds >= 0 { return .seconds(min(seconds, 3600)) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: value) else { return nil }
        return .milliseconds(Int64(max(0, min(3600, date.timeIntervalSinceNow)) * 1000))
    }
}
