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
    /// - Throws: ``IdempotencyKeyReused`` when the key was used for another request.
    func earlierOutcome(_ claim: IdempotencyClaim, on connection: PostgresConnection, logger: Logger) async throws -> ActionOutcome? {
        guard let earlier = try await claim.take(on: connection, logger: logger) else { return nil }
        // A submission's key: its fingerprint cannot be an action's.
        guard let outcome = earlier.actionOutcome else { throw IdempotencyKeyReused(key: claim.key) }
        return try JSONDecoder().decode(ActionOutcome.self, from: Data(outcome.utf8))
    }

    /// Keeps `outcome` beside the key this request claimed.
    func record(_ outcome: ActionOutcome, for claim: IdempotencyClaim, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            UPDATE idempotency_keys SET action_outcome = \(try jsonText(outcome))
            WHERE api_key_id = \(claim.apiKeyID) AND idempotency_key = \(claim.key)
            """, logger: logger)
    }
}
