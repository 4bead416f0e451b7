import NIOConcurrencyHelpers

/// A token bucket per API key: `rate` requests per second on average, bursts up to `burst`.
///
/// Per process: with N replicas a key may reach N × rate; the limit protects each replica and the
/// database behind it, not a billing quota.
public final class RateLimiter: Sendable {
    /// Whether a request may go ahead, and if not, when to come back.
    public struct Decision: Sendable, Hashable {
        public var allowed: Bool
        /// Whole seconds until a request would be allowed (for `Retry-After`).
        public var retryAfterSeconds: Int
    }

    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    public let defaultRate: Int
    private let buckets = NIOLockedValueBox<[String: Bucket]>([:])

    public init(defaultRate: Int) {
        self.defaultRate = defaultRate
    }

    /// Takes one token from `key`'s bucket if there is one.
    public func acquire(key: String, rate: Int? = nil, now: ContinuousClock.Instant = .now) -> Decision {
        let rate = Double(max(1, rate ?? defaultRate))
        let burst = rate * 2
        return buckets.withLockedValue { buckets in
            var bucket = buckets[key] ?? Bucket(tokens: burst, updated: now)
            let elapsed = now - bucket.updated
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            bucket.tokens = min(burst, bucket.tokens + max(0, seconds) * rate)
            bucket.updated = now
            defer { buckets[key] = bucket }
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                return Decision(allowed: true, retryAfterSeconds: 0)
            }
            let wait = (1 - bucket.tokens) / rate
            return Decision(allowed: false, retryAfterSeconds: max(1, Int(wait.rounded(.up))))
        }
    }
}
