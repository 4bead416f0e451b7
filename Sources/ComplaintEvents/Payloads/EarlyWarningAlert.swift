import Foundation

/// The metrics service's early warning on `alerts.v1`: something about one hotel moved outside its norm.
/// One episode is raised once and cleared once, both with the episode's ``alertID``.
///
/// ``Kind/categorySpike`` (the original and default kind): complaints of ``category`` in ``window`` above
/// the hotel's own baseline. ``Kind/compensationBudget``: approved spend in ``currency`` this month above
/// the budget. ``Kind/slaCompliance``: the share of ``slaTarget`` deadlines met below target.
public struct EarlyWarningAlert: EventPayload {
    public static let eventType = "redress.alert.earlywarning.v1"

    /// What the alert watches.
    public enum Kind: String, EventEnum {
        case categorySpike = "category_spike"
        case compensationBudget = "compensation_budget"
        case slaCompliance = "sla_compliance"
    }

    /// Where the episode stands.
    public enum State: String, EventEnum {
        case raised
        case cleared
    }

    public var alertID: UUID
    public var hotelID: String
    public var kind: Kind
    public var state: State
    /// The category that spiked (``Kind/categorySpike`` only).
    public var category: ComplaintCategory?
    /// ISO 4217 code of the spend (``Kind/compensationBudget`` only).
    public var currency: String?
    /// The deadline whose compliance fell (``Kind/slaCompliance`` only).
    public var slaTarget: SLATarget?
    public var severity: AlertSeverity
    public var window: AlertWindow
    /// Complaints counted in the window; approved spend in minor units; deadlines met.
    public var observed: Int
    /// Complaints expected in a window of that length (the norm); the month's budget; deadlines decided.
    public var baseline: Double
    /// `observed` / max(`baseline`, 1); for SLA compliance, met / decided.
    public var ratio: Double
    /// The Poisson tail probability of `observed` given `baseline` (category spikes).
    public var pValue: Double?
    /// The configured limit compared with.
    public var threshold: Double?
    public var detectedAt: Date

    public var envelopeHotelID: String? { hotelID }

    public init(
        alertID: UUID, hotelID: String, kind: Kind = .categorySpike, state: State = .raised, category: ComplaintCategory?,
        currency: String? = nil, slaTarget: SLATarget? = nil, severity: AlertSeverity, window: AlertWindow,
        observed: Int, baseline: Double, ratio: Double, pValue: Double? = nil, threshold: Double? = nil, detectedAt: Date
    ) {
        self.alertID = alertID
        self.hotelID = hotelID
        self.kind = kind
        self.state = state
        self.category = category
        self.currency = currency
        self.slaTarget = slaTarget
        self.severity = severity
        self.window = window
        self.observed = observed
        self.baseline = baseline
        self.ratio = ratio
        self.pValue = pValue
        self.threshold = threshold
        self.detectedAt = detectedAt
    }

    enum CodingKeys: String, CodingKey {
        case alertID = "alertId", hotelID = "hotelId", kind, state, category, currency, slaTarget, severity, window, observed
        case baseline, ratio, pValue, threshold, detectedAt
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        alertID = try container.decode(UUID.self, forKey: .alertID)
        hotelID = try container.decode(String.self, forKey: .hotelID)
        kind = try container.decodeIfPresent(Kind.self, forKey: .kind) ?? .categorySpike
        state = try container.decodeIfPresent(State.self, forKey: .state) ?? .raised
        // Each kind requires the member naming what it is about (the schema's if/then).
        category = kind == .categorySpike
            ? try container.decode(ComplaintCategory.self, forKey: .category)
            : try container.decodeIfPresent(ComplaintCategory.self, forKey: .category)
        currency = kind == .compensationBudget
            ? try container.decode(String.self, forKey: .currency) : try container.decodeIfPresent(String.self, forKey: .currency)
        slaTarget = kind == .slaCompliance
            ? try container.decode(SLATarget.self, forKey: .slaTarget) : try container.decodeIfPresent(SLATarget.self, forKey: .slaTarget)
        severity = try container.decode(AlertSeverity.self, forKey: .severity)
        window = try container.decode(AlertWindow.self, forKey: .window)
        observed = try container.decode(Int.self, forKey: .observed)
        baseline = try container.decode(Double.self, forKey: .baseline)
        ratio = try container.decode(Double.self, forKey: .ratio)
        pValue = try container.decodeIfPresent(Double.self, forKey: .pValue)
        threshold = try container.decodeIfPresent(Double.self, forKey: .threshold)
        detectedAt = try container.decode(Date.self, forKey: .detectedAt)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(alertID, forKey: .alertID)
        try container.encode(hotelID, forKey: .hotelID)
        try container.encode(kind, forKey: .kind)
        try container.encode(state, forKey: .state)
        try container.encodeIfPresent(category, forKey: .category)
        try container.encodeIfPresent(currency, forKey: .currency)
        try container.encodeIfPresent(slaTarget, forKey: .slaTarget)
        try container.encode(severity, forKey: .severity)
        try container.encode(window, forKey: .window)
        try container.encode(observed, forKey: .observed)
        try container.encode(baseline, forKey: .baseline)
        try container.encode(ratio, forKey: .ratio)
        try container.encodeIfPresent(pValue, forKey: .pValue)
        try container.encodeIfPresent(threshold, forKey: .threshold)
        try container.encode(detectedAt, forKey: .detectedAt)
    }
}

extension EarlyWarningAlert: ValidatedObject {
    static let fieldRules = FieldRules([
        CodingKeys.hotelID: .identifier,
        .currency: .text(length: 3...3, pattern: .currency),
        .observed: .integer(0...10_000_000_000_000),
        .baseline: .number(0...10_000_000_000_000),
        .ratio: .number(0...1_000_000),
        .pValue: .number(0...1),
        .threshold: .number(0...1_000_000),
    ])
}
