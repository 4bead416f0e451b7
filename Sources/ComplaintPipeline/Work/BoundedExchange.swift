import AsyncHTTPClient
import Foundation
import ComplaintStore
import Logging
import NIOCore
import NIOHTTP1

/// What a receiver answered to a ``HTTPClient/boundedExchange(_:timeout:maximumBodySize:logger:)``.
public struct BoundedAnswer: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    /// The body's first `maximumBodySize` bytes.
    public var body: ByteBuffer
    /// The body was longer; the rest was not read.
    public var isTruncated: Bool
}

extension HTTPClient {
    /// One call to a receiver outside Redress (a webhook, a robot, an SMS gateway, an external model, a
    /// dispatcher, intake's API) bounded as a whole: the headers within `timeout` (the client's own
    /// deadline, which ends there), the body within `timeout` more — before, a receiver that sent its
    /// headers and then wrote slowly held the caller for the client's read timeout (90 s): a whole
    /// delivery worker, or every complaint's classification.
    /// Reads at most `maximumBodySize` bytes of the body: a long answer is cut (``BoundedAnswer/isTruncated``),
    /// not an error, so a delivered webhook with a large reply is still delivered. A cut (or late) body ends
    /// its connection there and then: leaving the loop drops the body's iterator, on which the client
    /// cancels the request and closes the connection (BoundedExchangeTests); a whole body returns it to the pool.
    /// - Throws: the client's errors while connecting and waiting for the headers (refused, `deadlineExceeded` …;
    ///   a client with `retryConnectionEstablishment` on, as `HTTPClient.shared` and ``outbound`` are, tries a
    ///   refused connection again until the deadline, so a refusal comes at `timeout`; ``outboundFailingFast``
    ///   has it off, so a refusal comes at once, and fails with it every request then waiting for a
    ///   connection to the same host and port);
    ///   ``DeadlineExceeded`` when the body is not in within `timeout` of them;
    ///   ``WorkLeaseRunningOut``, before anything is sent, when the work item being performed has less than
    ///   the exchange's longest (twice `timeout`) left of its lease (``WorkLease``).
    public func boundedExchange(
        _ request: HTTPClientRequest, timeout: Duration, maximumBodySize: Int, logger: Logger
    ) async throws -> BoundedAnswer {
        try WorkLease.beforeCall(taking: timeout * 2, "an HTTP call to \(URL(string: request.url)?.host ?? "its receiver")")
        let deadline = NIODeadline.now() + .nanoseconds(timeout.nanosecondsTotal)
        // Connecting and the headers: the client's own deadline, and its own errors (refused, timed out).
        let response = try await execute(request, deadline: deadline, logger: logger)
        // The body: as long again at most (not just what is left: a busy process may have resumed this
        // task late, and the answer should not be lost to that).
        let body = response.body
        let (kept, truncated) = try await withDeadline(timeout) {
            var kept = ByteBuffer()
            for try await var chunk in body {
                let room = maximumBodySize - kept.readableBytes
                if chunk.readableBytes > room {
                    if room > 0, let part = chunk.readSlice(length: room) { kept.writeImmutableBuffer(part) }
                    return (kept, true)
                }
                kept.writeBuffer(&chunk)
            }
            return (kept, false)
        }
        return BoundedAnswer(status: Int(response.status.code), headers: response.headers, body: kept, isTruncated: truncated)
    }
}
