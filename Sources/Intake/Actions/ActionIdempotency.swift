import ComplaintStore
import Foundation
import Logging
import PostgresNIO

/// `Idempotency-Key` on staff actions, in the action's transaction: the first request with a key
/// applies the action and keeps its outcome beside the key; a repeat (same key, same action on the
/// same complaint, same body) gets that outcome again and applies nothing; the key with another
/// request is refused. Keys share `idempotency_keys` with submissions, one namespace per API key.
struct ActionIdempotency: Sendable {
    /// The fingerprint of an action request: its path and body, so one key cannot stand for two actions.
    static func claim(apiKeyID: String, key: String, path: String, body: [UInt8]?) -> IdempotencyClaim {
        IdempotencyClaim(apiKeyID: apiKeyID, key: key, body: Array("POST \(path)\n".utf8) + (body ?? []))
    }

    /// Claims `claim` for this request (`nil`), or returns the outcome an earlier request with it produced.
    /// A concurrent request with the same key waits on the row until the first commits or rolls back.
    /// - Throws: ``IdempotencyKeyReused`` when the key was used for another request.
    func earlierOutcome(_ claim: IdempotencyClaim, on connection: PostgresConnection, logger: Logger) async throws -> ActionOutcome? {
        let inserted = try await connection.query("""
            INSERT INTO idempotency_keys (api_key_id, idempotency_key, request_sha256, created_at)
            VALUES (\(claim.apiKeyID), \(claim.key), \(Data(claim.requestSHA256)), now())
            ON CONFLICT (api_key_id, idempotency_key) DO NOTHING
            RETURNING api_key_id
            """, logger: logger)
        for try await _ in inserted { return nil }
        let earlier = try await connection.query("""
            SELECT request_sha256, action_outcome FROM idempotency_keys
            WHERE api_key_id = \(claim.apiKeyID) AND idempotency_key = \(claim.key)
            """, logger: logger)
        for try await (digest, outcome) in earlier.decode((Data, String?).self) {
            guard Array(digest) == claim.requestSHA256, let outcome else { throw IdempotencyKeyReused(key: claim.key) }
            return try JSONDecoder().decode(ActionOutcome.self, from: Data(outcome.utf8))
        }
        throw PostgresConflictVanished()
    }

    /// Keeps `outcome` beside the key this request claimed.
    func record(_ outcome: ActionOutcome, for claim: IdempotencyClaim, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            UPDATE idempotency_keys SET action_outcome = \(try jsonText(outcome))
            WHERE api_key_id = \(claim.apiKeyID) AND idempotency_key = \(claim.key)
            """, logger: logger)
    }
}
