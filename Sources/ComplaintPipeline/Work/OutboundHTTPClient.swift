import AsyncHTTPClient
import NIOCore

extension HTTPClient {
    /// The client for calls out of Redress that a caller answers for itself within a short deadline (an
    /// external model, the group dispatcher), so none follows a redirect.
    public static let outbound: HTTPClient = HTTPClient(
        eventLoopGroupProvider: .singleton, configuration: outboundConfiguration(failingFast: false))

    /// The client of the notifier (webhooks, robots, an SMS gateway, the guest lookup at intake): as
    /// ``outbound``, but a refused connection fails the attempt at once, since the notifier retries with
    /// its own backoff and a delivery worker must not wait out its timeout behind a receiver that is down.
    public static let outboundFailingFast: HTTPClient = HTTPClient(
        eventLoopGroupProvider: .singleton, configuration: outboundConfiguration(failingFast: true))

    /// `HTTPClient.shared`'s settings with the changes every outside call needs.
    ///
    /// AsyncHTTPClient would follow up to 20 redirects: on a 301, 302 or 303 as a GET without the body, the
    /// final answer taken for the receiver's (a 200 recorded `delivered` though nobody got the message); on a
    /// 307 or 308 with the body (a guest's message, a complaint's text) and the headers (an SMS gateway's
    /// API key, a model's bearer token) to whatever host the answer named. Idle connections are kept 60 s,
    /// not 600 s: a load balancer that drops them sooner makes a POST fail on a closed connection, and a POST
    /// is not retried.
    ///
    /// `failingFast`: AsyncHTTPClient tries a refused connection again until the request's deadline, which
    /// held a notifier's delivery worker (and every message behind it) for the whole `timeoutSeconds`. Turned
    /// off, one failed connection attempt fails every request then waiting for a connection to the same host
    /// and port, not just the one that opened it: right for the notifier, which retries each message, wrong
    /// for the model and the dispatcher, whose circuit breaker would count every one of those failures (six
    /// lanes meeting one refused connection from a pod being replaced would open it for 30 s), and whose
    /// deadlines (300 ms, 800 ms by default) already bound the retrying.
    static func outboundConfiguration(failingFast: Bool) -> HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration.singletonConfiguration
        configuration.redirectConfiguration = .disallow
        configuration.connectionPool.idleTimeout = .seconds(60)
        if failingFast { configuration.connectionPool.retryConnectionEstablishment = false }
        return configuration
    }
}
