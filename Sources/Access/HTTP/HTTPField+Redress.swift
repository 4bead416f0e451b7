import HTTPTypes

extension HTTPField.Name {
    /// `Idempotency-Key`: a client's key that makes a retried request take effect once.
    public static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
    /// `Idempotent-Replayed: true`: the answer of an earlier request with the same `Idempotency-Key`.
    public static let idempotentReplayed = HTTPField.Name("Idempotent-Replayed")!
    /// `X-API-Key`: the API key, for clients that cannot send `Authorization: Bearer`.
    public static let apiKey = HTTPField.Name("X-API-Key")!
    /// W3C trace context, carried into events.
    public static let traceParent = HTTPField.Name("traceparent")!
}
