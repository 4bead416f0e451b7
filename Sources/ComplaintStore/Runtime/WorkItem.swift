import Foundation

/// An intent a worker claimed from the ``WorkQueue``: what to do, with the key that makes doing it twice harmless.
public struct WorkItem: Sendable, Hashable {
    /// The row id.
    public var id: Int64
    /// Which performer handles it (`email`, `webhook`).
    public var kind: String
    /// Stable across retries and crashes: send it with the call (an `Idempotency-Key` header, a `Message-ID`).
    public var idempotencyKey: String
    /// The intent's data, as the handler recorded it (JSON).
    public var payload: [UInt8]
    /// This attempt's number: 1 for the first call, 2 for the first retry, …
    public var attempt: Int
    /// Attempts allowed before the intent is given up.
    public var maximumAttempts: Int
    /// When the handler recorded the intent.
    public var createdAt: Date
    /// Proves this worker's lease when it records the outcome.
    public var leaseToken: UUID

    /// Whether a failure of this attempt is the last one allowed.
    public var isLastAttempt: Bool { attempt >= maximumAttempts }

    /// Decodes ``payload``, with dates as ``WorkQueue/enqueue(kind:idempotencyKey:payload:maximumAttempts:dueAt:on:logger:)``
    /// wrote them (ISO 8601).
    public func decodePayload<Payload: Decodable>(_ type: Payload.Type = Payload.self) throws -> Payload {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(Payload.self, from: Data(payload))
    }
}
