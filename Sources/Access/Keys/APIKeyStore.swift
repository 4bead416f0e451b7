import ComplaintStore
import Foundation
import Logging
import NIOConcurrencyHelpers
import PostgresNIO

/// A stored API key as `redress apikey list` shows it (never the secret).
public struct APIKeyRecord: Sendable, Hashable, Codable {
    public var id: String
    public var name: String
    public var role: AccessRole
    public var hotels: [String]
    public var ratePerSecond: Int?
    public var createdAt: Date
    public var revokedAt: Date?
}

/// Creates, lists, revokes and checks API keys in `access.api_keys`.
///
/// Checked keys are remembered for ``cacheLifetime`` so that a request costs no extra query; a
/// revocation therefore takes effect everywhere within that time.
public final class APIKeyStore: Sendable {
    public let schema: SchemaName
    public let cacheLifetime: Duration
    private var table: String { "\(schema).api_keys" }
    private let cache = NIOLockedValueBox<[String: (caller: Caller?, checkedAt: ContinuousClock.Instant)]>([:])

    /// - Parameter schema: The access schema (tests use one of their own).
    public init(schema: SchemaName = AccessTables.schema, cacheLifetime: Duration = .seconds(10)) {
        self.schema = schema
        self.cacheLifetime = cacheLifetime
    }

    /// Makes a new key; the returned secret is shown once and never stored.
    public func create(
        name: String, role: AccessRole, hotels: [String], ratePerSecond: Int? = nil,
        client: PostgresClient, logger: Logger
    ) async throws -> (record: APIKeyRecord, key: APIKeySecret) {
        let key = APIKeySecret.generate()
        let record = APIKeyRecord(
            id: key.id, name: name, role: role, hotels: role == .admin ? [] : hotels.sorted(),
            ratePerSecond: ratePerSecond, createdAt: Date(), revokedAt: nil)
        try await client.query("""
            INSERT INTO \(unescaped: table) (id, name, role, hotels, secret_sha256, rate_per_second, created_at)
            VALUES (\(record.id), \(record.name), \(record.role.rawValue), \(record.hotels), \(Data(key.secretSHA256)),
                    \(record.ratePerSecond), \(record.createdAt))
            """, logger: logger)
        return (record, key)
    }

    public func list(client: PostgresClient, logger: Logger) async throws -> [APIKeyRecord] {
        let rows = try await client.query("""
            SELECT id, name, role, hotels, rate_per_second, created_at, revoked_at
            FROM \(unescaped: table) ORDER BY created_at, id
            """, logger: logger)
        var records: [APIKeyRecord] = []
        for try await (id, name, role, hotels, rate, createdAt, revokedAt)
            in rows.decode((String, String, String, [String], Int?, Date, Date?).self) {
            records.append(APIKeyRecord(
                id: id, name: name, role: AccessRole(rawValue: role) ?? .publisher, hotels: hotels,
                ratePerSecond: rate, createdAt: createdAt, revokedAt: revokedAt))
        }
        return records
    }

    /// Revokes key `id`. - Returns: false if no such active key exists.
    @discardableResult
    public func revoke(id: String, client: PostgresClient, logger: Logger) async throws -> Bool {
        let rows = try await client.query("""
            UPDATE \(unescaped: table) SET revoked_at = now() WHERE id = \(id) AND revoked_at IS NULL RETURNING id
            """, logger: logger)
        var revoked = false
        for try await _ in rows { revoked = true }
        cache.withLockedValue { $0 = $0.filter { $0.value.caller?.keyID != id } }
        return revoked
    }

    /// What the cache knows of `key` now: `.some(caller)` (nil for a key found unknown or wrong), or
    /// `nil` when only the database can tell.
    public func cached(_ key: APIKeySecret, now: ContinuousClock.Instant = .now) -> Caller?? {
        guard let cached = cache.withLockedValue({ $0[key.description] }), now - cached.checkedAt < cacheLifetime else { return nil }
        return .some(cached.caller)
    }

    /// Whether `key` was found valid when last checked, however long ago (while the cache still holds it):
    /// such a key is looked up again when its entry expires without counting against the lookup limit, so a
    /// flood of made-up keys cannot shut out the real ones.
    public func wasValid(_ key: APIKeySecret) -> Bool {
        cache.withLockedValue { $0[key.description]?.caller != nil }
    }

    /// Whether checked keys are remembered at all (`ACCESS_KEY_CACHE_SECONDS` above 0).
    public var caches: Bool { cacheLifetime > .zero }

    /// The most keys the cache holds; past it, expired unknown keys go first, then all unknown keys, then the oldest.
    static let cacheCapacity = 10_000

    /// The caller `key` identifies, or `nil` if it is unknown, revoked or its secret is wrong.
    public func authenticate(_ key: APIKeySecret, client: PostgresClient, logger: Logger) async throws -> Caller? {
        let cacheKey = key.description
        let now = ContinuousClock.now
        if let cached = cached(key, now: now) { return cached }
        let rows = try await client.query("""
            SELECT name, role, hotels, secret_sha256, rate_per_second FROM \(unescaped: table)
            WHERE id = \(key.id) AND revoked_at IS NULL
            """, logger: logger)
        var caller: Caller?
        for try await (name, role, hotels, digest, rate) in rows.decode((String, String, [String], Data, Int?).self) {
            if key.matches(sha256: Array(digest)), let role = AccessRole(rawValue: role) {
                caller = Caller(keyID: key.id, name: name, role: role, hotels: Set(hotels), ratePerSecond: rate)
            }
        }
        let lifetime = cacheLifetime
        cache.withLockedValue { entries in
            // A flood of made-up keys must not push the real ones out (each would cost a lookup again, and
            // count against the lookup limit): expired unknown keys go first, valid ones stay (with no
            // lifetime they are all expired, and only their validity is remembered).
            if entries.count >= Self.cacheCapacity { entries = entries.filter { now - $0.value.checkedAt < lifetime || $0.value.caller != nil } }
            if entries.count >= Self.cacheCapacity { entries = entries.filter { $0.value.caller != nil } }
            if entries.count >= Self.cacheCapacity {
                let oldest = entries.sorted { $0.value.checkedAt < $1.value.checkedAt }.prefix(entries.count / 2).map(\.key)
                for key in oldest { entries[key] = nil }
            }
            entries[cacheKey] = (caller, now)
        }
        return caller
    }
}
