import Hummingbird
import Logging
import PostgresNIO

/// Establishes who calls: reads the API key (`Authorization: Bearer …` or `X-API-Key`), checks it
/// against the `access` schema (401), applies the key's request rate (429) and puts the ``Caller``
/// in the context; routes then ask for a role with
/// ``RedressRequestContext/caller(atLeast:for:)`` (403) and check hotel scope with
/// ``Caller/covers(hotel:)``. Every service's API authenticates the same keys this way.
public struct AuthenticationMiddleware: RouterMiddleware {
    public typealias Context = RedressRequestContext

    public let keys: APIKeyStore
    public let limiter: RateLimiter
    public let client: PostgresClient
    public let database: DatabaseGuard
    public let logger: Logger

    public init(keys: APIKeyStore, limiter: RateLimiter, client: PostgresClient, database: DatabaseGuard, logger: Logger) {
        self.keys = keys
        self.limiter = limiter
        self.client = client
        self.database = database
        self.logger = logger
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let key = try Self.apiKey(request)
        let keys = self.keys
        let client = self.client
        let logger = self.logger
        guard let caller = try await database.run({ try await keys.authenticate(key, client: client, logger: logger) }) else {
            throw Problem.unauthorized("the API key is unknown or revoked")
        }
        let decision = limiter.acquire(key: caller.keyID, rate: caller.ratePerSecond)
        guard decision.allowed else { throw Problem.rateLimited(retryAfter: decision.retryAfterSeconds) }
        var context = context
        context.caller = caller
        return try await next(request, context)
    }

    /// The API key from `Authorization: Bearer …` or `X-API-Key`.
    public static func apiKey(_ request: Request) throws(Problem) -> APIKeySecret {
        var text: Substring?
        if let authorization = request.headers[.authorization] {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else {
                throw Problem.unauthorized("the Authorization header must be 'Bearer <api key>'")
            }
            text = parts[1].drop { $0 == " " }
        } else if let header = request.headers[.apiKey] {
            text = Substring(header)
        }
        guard let text else {
            throw Problem.unauthorized("send an API key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'")
        }
        guard let key = APIKeySecret(parsing: text) else {
            throw Problem.unauthorized("the API key is not of the form rdk_<id>_<secret>")
        }
        return key
    }
}
