/// The few formulas every KPI shares, in one place (definitions: `services/metrics/README.md`).
public enum KPIArithmetic {
    /// `part / whole`, or `nil` when there is nothing to divide by (a rate of no complaints is unknown, not 0).
    public static func rate(_ part: Int, of whole: Int) -> Double? {
        whole > 0 ? Double(part) / Double(whole) : nil
    }

    /// Net Promoter Score: the share of promoters (9–10) minus the share of detractors (0–6), in points
    /// from −100 to 100; `nil` without answers.
    public static func netPromoterScore(promoters: Int, detractors: Int, responses: Int) -> Double? {
        guard responses > 0 else { return nil }
        return (Double(promoters) - Double(detractors)) * 100 / Double(responses)
    }

    /// Whether an answer of 0–10 promotes (9–10), is passive (7–8) or detracts (0–6).
    public static func npsGroup(_ answer: Int) -> NPSGroup {
        switch answer {
        case 9...: .promoter
        case 7...8: .passive
        default: .detractor
        }
    }

    /// Where a likelihood-to-recommend answer puts the guest.
    public enum NPSGroup: Sendable {
        case promoter, passive, detractor
    }

    /// `value` mapped onto 0–100 where `zeroAt` (and beyond) scores 0 and 0 scores 100.
    public static func score(_ value: Double, zeroAt limit: Double) -> Double {
        guard limit > 0 else { return value > 0 ? 0 : 100 }
        return max(0, min(100, 100 * (1 - value / limit)))
    }
}
