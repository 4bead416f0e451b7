import Hummingbird

/// The request context of every Redress HTTP API: Hummingbird's core context, the caller the
/// ``AuthenticationMiddleware`` established, and the response encoder that writes JSON exactly as
/// the events do (``JSONResponseEncoder``).
public struct RedressRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The authenticated caller; `nil` on routes without ``AuthenticationMiddleware``.
    public var caller: Caller?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.caller = nil
    }

    public var responseEncoder: JSONResponseEncoder { JSONResponseEncoder() }

    /// The caller, if their role is at least `role`.
    /// - Throws: 401 when the route was not authenticated, 403 when the role is too low.
    public func caller(atLeast role: AccessRole, for request: Request) throws(Problem) -> Caller {
        guard let caller else { throw Problem.unauthorized("this route needs an API key") }
        guard caller.role >= role else {
            throw Problem.forbidden("role \(caller.role.rawValue) may not \(request.method.rawValue) \(request.uri.path)")
        }
        return caller
    }
}
