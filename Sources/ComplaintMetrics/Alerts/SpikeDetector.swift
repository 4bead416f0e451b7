import ComplaintEvents
import Foundation

/// Decides whether a hotel's count of one category in the current window is a spike, by the hotel's
/// own norm: the mean count of the same window in each of the last `baselineWeeks` weeks (same hours of
/// the same weekday, so a busy Saturday evening is compared with Saturday evenings). Counts of rare
/// events are Poisson; the spike is raised when P(X ≥ observed | baseline) < `pValue` and at least
/// `minimumCount` complaints came, and cleared when that probability rises above `clearPValue`.
public struct SpikeDetector: Sendable, Hashable {
    public var rules: MetricsSettings.EarlyWarning

    public init(rules: MetricsSettings.EarlyWarning) {
        self.rules = rules
    }

    /// The verdict on one count.
    public struct Evaluation: Sendable, Hashable {
        public var observed: Int
        /// The expected count (the history's mean, at least ``MetricsSettings/EarlyWarning/minimumBaseline``).
        public var baseline: Double
        public var pValue: Double
        /// A spike worth raising (when no episode is open).
        public var raises: Bool
        /// An open episode is over.
        public var clears: Bool
        public var severity: AlertSeverity
    }

    /// `observed` against the counts of the same window in earlier weeks (`history`, one per week; weeks
    /// without data count 0).
    public func evaluate(observed: Int, history: [Int]) -> Evaluation {
        let weeks = max(rules.baselineWeeks, 1)
        let mean = Double(history.prefix(weeks).reduce(0, +)) / Double(weeks)
        let baseline = max(mean, rules.minimumBaseline)
        let p = Self.poissonUpperTail(observed, mean: baseline)
        return Evaluation(
            observed: observed, baseline: baseline, pValue: p, raises: observed >= rules.minimumCount && p < rules.pValue,
            clears: p > rules.clearPValue, severity: p < rules.criticalPValue ? .critical : .warning)
    }

    /// P(X ≥ k) for X ~ Poisson(mean). Above the mean, summed from k upwards with the first term in log
    /// space (exact for tiny tails, where 1 − CDF would cancel to 0); at or below it, 1 − P(X < k) with
    /// each term in log space (no underflow of e^−mean for a large mean).
    public static func poissonUpperTail(_ k: Int, mean: Double) -> Double {
        guard k > 0 else { return 1 }
        guard mean > 0 else { return 0 }
        if Double(k) <= mean {
            let lower = (0..<k).reduce(0.0) { $0 + exp(-mean + Double($1) * log(mean) - lgamma(Double($1) + 1)) }
            return max(0, min(1, 1 - lower))
        }
        var term = exp(-mean + Double(k) * log(mean) - lgamma(Double(k) + 1))
        var sum = 0.0
        var i = k
        while term > 0 {
            sum += term
            i += 1
            term *= mean / Double(i)
            if Double(i) > mean && term < sum * 1e-17 { break }
        }
        return min(1, sum)
    }
}
