import Foundation

/// The KPIs of one group (a day, a category, …) or of the whole range, as `/v1/kpis` answers them.
/// Rates are fractions 0–1 and `null` when there was nothing to divide by; times are seconds.
public struct KPIFigures: Codable, Sendable, Hashable {
    /// A time KPI: how many complaints have one, its median and 90th percentile.
    public struct Timing: Codable, Sendable, Hashable {
        public var count: Int
        public var medianSeconds: Double?
        public var p90Seconds: Double?
    }

    /// Deadlines of one target: complaints that met every deadline of it, that breached one, the rate.
    public struct Compliance: Codable, Sendable, Hashable {
        public var met: Int
        public var breached: Int
        public var compliance: Double?
        /// Breach events (a complaint reopened twice can breach its resolve deadline twice).
        public var breaches: Int
    }

    /// A share: how many of how many (nil rate when there were none).
    public struct Rate: Codable, Sendable, Hashable {
        public var count: Int
        public var of: Int
        public var rate: Double?
    }

    /// The survey's satisfaction answers: count, mean and distribution.
    public struct Satisfaction: Codable, Sendable, Hashable {
        public var responses: Int
        public var mean: Double?
        /// Answers 1, 2, 3, 4, 5.
        public var distribution: [Int]
    }

    /// The survey's would-recommend answers as a net promoter score.
    public struct NetPromoter: Codable, Sendable, Hashable {
        public var responses: Int
        public var promoters: Int
        public var passives: Int
        public var detractors: Int
        /// −100 … 100.
        public var score: Double?
    }

    /// Compensation paid in one currency (amounts in minor units).
    public struct Spend: Codable, Sendable, Hashable {
        public var currency: String
        public var count: Int
        public var amountMinor: Int64
    }

    /// The group's key: `2026-11-03`, `2026-W45` (the Monday: `2026-11-02`), `2026-11`, a hotel, a category…;
    /// absent for the whole range.
    public var key: String?
    public var volume: Int
    public var timeToAcknowledge: Timing
    public var timeToResolve: Timing
    public var acknowledgeSLA: Compliance
    public var resolveSLA: Compliance
    /// Complaints escalated to at least level 1, 2 and 3.
    public var escalations: [String: Int]
    public var firstContactResolution: Rate
    public var repeatComplaints: Rate
    public var reopened: Rate
    public var satisfaction: Satisfaction
    public var netPromoter: NetPromoter
    public var compensation: [Spend]
    /// Notes staff addressed to the guest.
    public var guestNotes: Int
    /// Complaints about facilities and rooms (the quality index's tangibles).
    public var facilityComplaints: Int
    /// Complaints about staff behaviour and safety (the quality index's assurance).
    public var assuranceComplaints: Int
}

/// `/v1/kpis`'s answer: the question, the figures per group and for the whole range, the top root causes,
/// the open backlog now, and each hotel's compensation budget this month.
public struct KPIReport: Codable, Sendable, Hashable {
    /// How often a root cause was recorded when complaints were resolved.
    public struct RootCause: Codable, Sendable, Hashable {
        public var rootCause: String
        public var count: Int
    }

    /// Open complaints (not resolved or closed) now, by age since registration.
    public struct Backlog: Codable, Sendable, Hashable {
        public var open: Int
        public var under1h: Int
        public var from1hTo4h: Int
        public var from4hTo24h: Int
        public var from1dTo3d: Int
        public var over3d: Int
        public var bySeverity: [String: Int]
    }

    /// A hotel's compensation budget for a month and how much of it was spent.
    public struct Budget: Codable, Sendable, Hashable {
        public var hotelId: String
        public var month: String
        public var currency: String
        public var budgetMinor: Int64
        public var spentMinor: Int64
        public var used: Double?
    }

    public var hotels: [String]
    public var from: String
    public var to: String
    public var groupBy: String
    public var filters: [String: String]
    public var groups: [KPIFigures]
    public var totals: KPIFigures
    public var topRootCauses: [RootCause]
    public var backlog: Backlog
    public var budgets: [Budget]
}
