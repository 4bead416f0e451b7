import Foundation

/// The service-quality index of one hotel and month: the KPIs mapped onto SERVQUAL's five dimensions,
/// each scored 0–100, and their weighted mean (weights from the metrics file; a dimension without data
/// is left out and the others' weights renormalised). The method is in `services/metrics/README.md`.
public struct QualityIndex: Codable, Sendable, Hashable {
    /// One dimension's score, its weight and what it was computed from.
    public struct Dimension: Codable, Sendable, Hashable {
        public var score: Double?
        public var weight: Double
        /// The inputs, by name (rates 0–1, times in seconds, counts per 100 rooms per month).
        public var inputs: [String: Double]
    }

    public var hotelId: String
    public var month: String
    public var score: Double?
    /// Why there is no ``score`` when a month has nothing to score (no complaints registered in it).
    public var unscoredReason: String?
    public var dimensions: [String: Dimension]
    public var complaints: Int

    /// ``unscoredReason`` of a month without complaints.
    public static let noComplaints = "no complaints registered in the month"

    /// The fewest days a partial month's counts are projected from: early in the month one complaint
    /// projected from a day or two (×30 on the 1st) scored tangibles 0; counted as at least a week, it
    /// weighs at most about four times as much as it will if nothing else comes.
    public static let minimumProjectionDays = 7

    /// The index from a hotel's KPI totals over the first `days` days of `month` (`YYYY-MM`): all of it
    /// for a month that has ended, the days so far (today included) for the current one.
    public static func compute(
        hotel: MetricsSettings.Hotel, month: String, totals: KPIFigures, days: Int, settings: MetricsSettings.QualityIndex
    ) -> QualityIndex {
        let monthScale = projection(days: days, month: month)
        let per100Rooms = 100 / Double(max(hotel.rooms, 1))
        func mean(_ values: [Double?]) -> Double? {
            let present = values.compactMap { $0 }
            return present.isEmpty ? nil : present.reduce(0, +) / Double(present.count)
        }
        var inputs: [QualityDimension: [String: Double]] = [:]
        var scores: [QualityDimension: Double?] = [:]

        let facilityRate = Double(totals.facilityComplaints) * per100Rooms * monthScale
        inputs[.tangibles] = ["facilityComplaintsPer100RoomsMonthly": facilityRate]
        scores[.tangibles] = KPIArithmetic.score(facilityRate, zeroAt: settings.tangiblesPer100RoomsMonthly)

        var reliability: [String: Double] = [:]
        reliability["repeatRate"] = totals.repeatComplaints.rate
        reliability["reopenRate"] = totals.reopened.rate
        reliability["resolveCompliance"] = totals.resolveSLA.compliance
        inputs[.reliability] = reliability
        scores[.reliability] = mean([
            totals.repeatComplaints.rate.map { 100 * (1 - $0) }, totals.reopened.rate.map { 100 * (1 - $0) },
            totals.resolveSLA.compliance.map { 100 * $0 },
        ])

        var responsiveness: [String: Double] = [:]
        responsiveness["acknowledgeMedianSeconds"] = totals.timeToAcknowledge.medianSeconds
        responsiveness["resolveMedianSeconds"] = totals.timeToResolve.medianSeconds
        inputs[.responsiveness] = responsiveness
        scores[.responsiveness] = mean([
            totals.timeToAcknowledge.medianSeconds.map { KPIArithmetic.score($0, zeroAt: settings.acknowledgeMedianLimit) },
            totals.timeToResolve.medianSeconds.map { KPIArithmetic.score($0, zeroAt: settings.resolveMedianLimit) },
        ])

        let assuranceRate = Double(totals.assuranceComplaints) * per100Rooms * monthScale
        let escalationRate = KPIArithmetic.rate(totals.escalations["1"] ?? 0, of: totals.volume)
        var assurance = ["staffAndSafetyComplaintsPer100RoomsMonthly": assuranceRate]
        assurance["escalationRate"] = escalationRate
        inputs[.assurance] = assurance
        scores[.assurance] = mean([
            KPIArithmetic.score(assuranceRate, zeroAt: settings.assurancePer100RoomsMonthly), escalationRate.map { 100 * (1 - $0) },
        ])

        var empathy: [String: Double] = [:]
        empathy["satisfactionMean"] = totals.satisfaction.mean
        empathy["netPromoterScore"] = totals.netPromoter.score
        let notesPerComplaint = totals.volume > 0 ? Double(totals.guestNotes) / Double(totals.volume) : nil
        empathy["guestNotesPerComplaint"] = notesPerComplaint
        inputs[.empathy] = empathy
        scores[.empathy] = mean([
            totals.satisfaction.mean.map { 100 * ($0 - 1) / 4 }, totals.netPromoter.score.map { ($0 + 100) / 2 },
            notesPerComplaint.map { 100 * min(1, $0) },
        ])

        // Without complaints there is nothing to measure: "no facility complaints" would score 100.
        if totals.volume == 0 { scores = [:] }

        let weightSum = settings.weights.values.reduce(0, +)
        var dimensions: [String: Dimension] = [:]
        var weighted = 0.0, usedWeight = 0.0
        for dimension in QualityDimension.allCases {
            let weight = weightSum > 0 ? (settings.weights[dimension] ?? 0) / weightSum : 0
            let score = (scores[dimension] ?? nil).map { ($0 * 10).rounded() / 10 }
            dimensions[dimension.rawValue] = Dimension(score: score, weight: weight, inputs: inputs[dimension] ?? [:])
            if let score, weight > 0 {
                weighted += score * weight
                usedWeight += weight
            }
        }
        return QualityIndex(
            hotelId: hotel.id, month: month, score: usedWeight > 0 ? ((weighted / usedWeight) * 10).rounded() / 10 : nil,
            unscoredReason: totals.volume == 0 ? noComplaints : nil, dimensions: dimensions, complaints: totals.volume)
    }

    /// What a month's counts are multiplied by to give its per-month rates. A whole month's counts are
    /// its rates (a February with 5 facility complaints has 5, not 5 × 30.44 / 28); a partial month's are
    /// projected to its length from the days so far, counted as at least ``minimumProjectionDays``.
    static func projection(days: Int, month: String) -> Double {
        let length = Self.days(inMonth: month) ?? days
        guard days < length else { return 1 }
        return Double(length) / Double(max(days, minimumProjectionDays, 1))
    }

    /// The days of a Gregorian month `YYYY-MM`; `nil` when `month` is not one.
    static func days(inMonth month: String) -> Int? {
        let parts = month.split(separator: "-")
        guard parts.count == 2, let year = Int(parts[0]), let number = Int(parts[1]), (1...12).contains(number) else { return nil }
        switch number {
        case 2: return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }
}
