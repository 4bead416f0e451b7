import ComplaintEvents
import Foundation
import HotelTime

/// A what-if: the recorded complaints judged against a candidate SLA policy beside the policy in
/// force — how many responses and resolutions would have breached, per hotel, category and severity.
/// Pure (no database, no clock of its own): `redress sla backtest` feeds it the history from the topics.
public struct SLABacktest: Sendable {
    /// Whether one clock was kept.
    public enum Verdict: Sendable, Hashable {
        /// Stopped in time.
        case met
        /// Stopped late, or still running past its deadline.
        case breached
        /// Still running, not yet due (or paused): not counted either way.
        case open
    }

    /// The response and resolve verdicts of one complaint under one set of policies.
    public struct Outcome: Sendable, Hashable {
        public var response: Verdict
        public var resolve: Verdict

        public init(response: Verdict, resolve: Verdict) {
            self.response = response
            self.resolve = resolve
        }
    }

    public var inForce: SLAPolicies
    public var candidate: SLAPolicies
    /// The "now" of clocks still running.
    public var asOf: Date

    public init(inForce: SLAPolicies, candidate: SLAPolicies, asOf: Date) {
        self.inForce = inForce
        self.candidate = candidate
        self.asOf = asOf
    }

    /// `complaint` under `policies`; nil when it never started (no verdict seen) or no rule covers it.
    public static func outcome(of complaint: RecordedComplaint, under policies: SLAPolicies, asOf: Date) -> Outcome? {
        guard let registeredAt = complaint.registeredAt, let category = complaint.category, let severity = complaint.severity,
            let policy = policies.policy(hotel: complaint.hotelID, category: category, severity: severity)
        else { return nil }
        let arithmetic = ClockArithmetic(
            calendar: policies.calendar(forDepartment: complaint.department ?? ""), timeZone: policies.timeZone(ofHotel: complaint.hotelID))
        func verdict(due: Date?, stoppedAt: Date?) -> Verdict {
            // Paused with no end in sight: a clock already stopped was kept; a running one is undecided.
            guard let due else { return stoppedAt != nil ? .met : .open }
            if let stoppedAt { return stoppedAt <= due ? .met : .breached }
            return asOf > due ? .breached : .open
        }
        // The response clock stops at the acknowledgement, or at a resolution that came first.
        let firstResolution = complaint.resolvePeriods.first?.end
        let responseStop = [complaint.acknowledgedAt, firstResolution].compactMap { $0 }.min()
        let response = verdict(
            due: arithmetic.due(start: registeredAt, budget: policy.response.timeInterval, pauses: complaint.pauses), stoppedAt: responseStop)
        var resolve = Verdict.met
        for period in complaint.resolvePeriods {
            let due = arithmetic.due(start: period.start, budget: policy.resolve.timeInterval, pauses: complaint.pauses)
            switch verdict(due: due, stoppedAt: period.end) {
            case .breached: resolve = .breached
            case .open where resolve != .breached: resolve = .open
            default: break
            }
        }
        return Outcome(response: response, resolve: resolve)
    }

    /// The report over `complaints`.
    public func run(_ complaints: some Sequence<RecordedComplaint>) -> BacktestReport {
        var report = BacktestReport()
        for complaint in complaints {
            let current = Self.outcome(of: complaint, under: inForce, asOf: asOf)
            let proposed = Self.outcome(of: complaint, under: candidate, asOf: asOf)
            guard current != nil || proposed != nil, let category = complaint.category, let severity = complaint.severity else {
                report.unjudged += 1
                continue
            }
            let keys = ["hotel \(complaint.hotelID)", "category \(category.rawValue)", "severity \(severity.rawValue)", "all"]
            for key in keys { report.rows[key, default: BacktestReport.Row()].add(inForce: current, candidate: proposed) }
        }
        return report
    }
}

/// What `redress sla backtest` prints: per hotel, category and severity, the complaints judged and
/// how many responses and resolutions breached under the policy in force and under the candidate.
public struct BacktestReport: Sendable, Hashable, Codable {
    /// One hotel, category and severity: its complaints and breaches under each policy.
    public struct Row: Sendable, Hashable, Codable {
        public var complaints = 0
        public var responseBreachedInForce = 0
        public var responseBreachedCandidate = 0
        public var resolveBreachedInForce = 0
        public var resolveBreachedCandidate = 0
        /// Clocks still running and not yet due under either policy.
        public var stillOpen = 0

        mutating func add(inForce: SLABacktest.Outcome?, candidate: SLABacktest.Outcome?) {
            complaints += 1
            if inForce?.response == .breached { responseBreachedInForce += 1 }
            if candidate?.response == .breached { responseBreachedCandidate += 1 }
            if inForce?.resolve == .breached { resolveBreachedInForce += 1 }
            if candidate?.resolve == .breached { resolveBreachedCandidate += 1 }
            if inForce?.resolve == .open || candidate?.resolve == .open { stillOpen += 1 }
        }
    }

    /// Keyed `all`, `hotel SHA-PD01`, `category noise`, `severity serious`.
    public var rows: [String: Row] = [:]
    /// Complaints with no verdict or no policy rule under either file.
    public var unjudged = 0

    /// A plain-text table: the total first, then hotels, categories and severities.
    public var table: String {
        let order = ["all"] + rows.keys.filter { $0.hasPrefix("hotel ") }.sorted() + rows.keys.filter { $0.hasPrefix("category ") }.sorted()
            + ["severity serious", "severity moderate", "severity minor"].filter { rows[$0] != nil }
        var lines = ["".padding(toLength: 26, withPad: " ", startingAt: 0) + "complaints  response breached      resolve breached      open",
                     "".padding(toLength: 26, withPad: " ", startingAt: 0) + "            in force → candidate  in force → candidate"]
        for key in order {
            guard let row = rows[key] else { continue }
            lines.append(key.padding(toLength: 26, withPad: " ", startingAt: 0)
                + String(format: "%10d  %8d → %-9d  %8d → %-9d  %4d", row.complaints, row.responseBreachedInForce, row.responseBreachedCandidate,
                         row.resolveBreachedInForce, row.resolveBreachedCandidate, row.stillOpen))
        }
        if unjudged > 0 { lines.append("\(unjudged) complaints not judged (no verdict recorded, or no policy rule covers them)") }
        return lines.joined(separator: "\n")
    }
}
