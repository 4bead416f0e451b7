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
///
/// It also keeps the ids and secret digests of the keys that were active when it last read them (every
/// ``activeKeysRefresh``): only to tell a real key this process has not checked yet from a made-up one
/// (``isActive(_:)``), never to authenticate, so revocation does not wait for that read.
public final class APIKeyStore: Sendable {
    public let schema: SchemaName
    public let cacheLifetime: Duration
    /// How often the active keys are read again (a key created since counts against the lookup limit until then).
    public let activeKeysRefresh: Duration
    private var table: String { "\(schema).api_keys" }
    private let cache = NIOLockedValueBox<[String: (caller: Caller?, checkedAt: ContinuousClock.Instant)]>([:])
    private struct ActiveKeys {
        /// Secret digests by key id.
        var digests: [String: [UInt8]] = [:]
        /// When to read them again (nil: never read).
        var due: ContinuousClock.Instant?
        var reading = false
    }
    private let active = NIOLockedValueBox(ActiveKeys())

    /// - Parameter schema: The access schema (tests use one of their own).
    public init(schema: SchemaName = AccessTables.schema, cacheLifetime: Duration = .seconds(10), activeKeysRefresh: Duration = .seconds(30)) {
        self.schema = schema
        self.cacheLifetime = cacheLifetime
        self.activeKeysRefresh = activeKeysRefresh
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
        active.withLockedValue { $0.digests[id] = nil }
        return revoked
    }

    /// Whether `key` was active when the keys were last read (its id known, its secret matching): no
    /// made-up key, though this process may not have checked it yet (it has just started), so its lookup
    /// need not count against the lookup limit. A key revoked since is still looked up, and refused.
    public func isActive(_ key: APIKeySecret) -> Bool {
        guard let digest = active.withLockedValue({ $0.digests[key.id] }) else { return false }
        return key.matches(sha256: digest)
    }

    /// Whether ``readActiveKeysIfDue(client:logger:now:)`` would read now.
    public func activeKeysAreDue(now: ContinuousClock.Instant = .now) -> Bool {
        active.withLockedValue { state in !state.reading && state.due.map { now >= $0 } ?? true }
    }

    /// Reads the ids and digests of the active keys when they were never read or ``activeKeysRefresh``
    /// has passed since (a second after a failed read); one caller reads, the others go on with what was
    /// read before.
    public func readActiveKeysIfDue(client: PostgresClient, logger: Logger, now: ContinuousClock.Instant = .now) async throws {
        let refresh = activeKeysRefresh
        let mine = active.withLockedValue { state -> Bool in
            guard !state.reading, state.due.map({ now >= $0 }) ?? true else { return false }
            state.reading = true
            return true
        }
        guard mine else { return }
        do {
            let rows = try await client.query(
                "SELECT id, secret_sha256 FROM \(unescaped: table) WHERE revoked_at IS NULL", logger: logger)
            var digests: [String: [UInt8]] = [:]
            for try await (id, digest) in rows.decode((String, Data).self) { digests[id] = Array(digest) }
            let read = digests
            active.withLockedValue { $0 = ActiveKeys(digests: read, due: now + refresh, reading: false) }
        } catch {
            active.withLockedValue { state in
                state.due = now + min(refresh, .seconds(1))
                state.reading = false
            }
            throw error
        }
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
        // Revoked since the active keys were read: no longer exempt from the lookup limit.
        if caller == nil, isActive(key) { active.withLockedValue { $0.digests[key.id] = nil } }
        return caller
    }
}
