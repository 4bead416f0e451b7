import HTTPTypes

extension HTTPField.Name {
    /// `Idempotency-Key`: a publisher's key that makes a retried request register once.
    public static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
    /// `X-API-Key`: the API key, for clients that cannot send `Authorization: Bearer`.
    public static let apiKey = HTTPField.Name("X-API-Key")!
    /// W3C trace context, carried into events.
    public static let traceParent = HTTPField.Name("traceparent")!
}
