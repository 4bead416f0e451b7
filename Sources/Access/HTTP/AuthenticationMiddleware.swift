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
    /// Database lookups of keys the cache does not know, per second for the whole process (bursts of
    /// twice that): made-up keys cost a query each, and a flood of them would otherwise fill the pool the
    /// event pipeline shares until every request answered 503. Known keys are answered from the cache, or,
    /// with no cache lifetime, looked up without counting against this; so are keys that were active when
    /// the store last read them (``APIKeyStore/isActive(_:)``), so that right after a start a flood cannot
    /// shut out the real keys this process has not seen yet.
    public let lookupsPerSecond: Int

    /// The limiter's bucket for lookups (no key id has this form).
    static let lookupBucket = "<key lookups>"

    public init(
        keys: APIKeyStore, limiter: RateLimiter, client: PostgresClient, database: DatabaseGuard, lookupsPerSecond: Int = 200, logger: Logger
    ) {
        self.keys = keys
        self.limiter = limiter
        self.client = client
        self.database = database
        self.lookupsPerSecond = lookupsPerSecond
        self.logger = logger
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let key = try Self.apiKey(request)
        let keys = self.keys
        let client = self.client
        let logger = self.logger
        // Only keys nobody has found valid count against the limit: a known key whose entry expired is
        // looked up as before. Cache or no cache (`ACCESS_KEY_CACHE_SECONDS=0`): without it every key is
        // looked up, and made-up ones would fill the pool again.
        if keys.cached(key) == nil, !keys.wasValid(key) {
            // Nor do keys active when the store last read them (a key id alone is no secret: the secret
            // must match too), read at the first such request and every `activeKeysRefresh` after.
            if keys.activeKeysAreDue() { try await database.run { try await keys.readActiveKeysIfDue(client: client, logger: logger) } }
            if !keys.isActive(key) {
                let lookup = limiter.acquire(key: Self.lookupBucket, rate: lookupsPerSecond)
                guard lookup.allowed else { throw Problem.rateLimited(retryAfter: lookup.retryAfterSeconds) }
            }
        }
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
