import AsyncHTTPClient

extension HTTPClient {
    /// The one client for calls out of Redress (an external model, the group dispatcher, webhooks, robots, an SMS gateway, the notifier's guest lookup at intake), so none follows a redirect and none waits out its timeout on a refused connection.
    public static let outbound: HTTPClient = {
        // `HTTPClient.shared`'s settings, with two changes. AsyncHTTPClient tries a refused connection again
        // until the request's deadline: a receiver or model that is down held its caller for the whole
        // timeout (a delivery worker, and every message behind it, for `timeoutSeconds`; every complaint
        // for the external model's timeout) before failing as it fails now at once; each caller retries or
        // counts the failure itself (the notifier's backoff, the classifier's circuit breaker). The cost:
        // one failed connection attempt fails every request then waiting for a connection to the same host
        // and port, not just the one that opened it.
        // And it would follow up to 20 redirects: on a 301, 302 or 303 as a GET without the body, the final
        // answer taken for the receiver's (a 200 recorded `delivered` though nobody got the message); on a
        // 307 or 308 with the body (a guest's message, a complaint's text) and the headers (an SMS gateway's
        // API key, a model's bearer token) to whatever host the answer named.
        var configuration = HTTPClient.Configuration.singletonConfiguration
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.redirectConfiguration = .disallow
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()
}
