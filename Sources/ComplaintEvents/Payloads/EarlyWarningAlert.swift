import Foundation

/// The metrics service's early warning on `alerts.v1`: a hotel's complaints of one category
/// spiked above their norm in a time window.
public struct EarlyWarningAlert: EventPayload {
    public static let eventType = "redress.alert.earlywarning.v1"

    public var alertID: UUID
    public var hotelID: String
    public var category: ComplaintCategory
    public var severity: AlertSeverity
    public var window: AlertWindow
    /// Complaints counted in the window.
    public var observed: Int
    /// Complaints expected in a window of that length (the norm).
    public var baseline: Double
    /// `observed` / max(`baseline`, 1).
    public var ratio: Double
    public var detectedAt: Date

    public var envelopeHotelID: String? { hotelID }

    public init(
        alertID: UUID, hotelID: String, category: ComplaintCategory, severity: AlertSeverity, window: AlertWindow,
        observed: Int, baseline: Double, ratio: Double, detectedAt: Date
    ) {
        self.alertID = alertID
        self.hotelID = hotelID
        self.category = category
        self.severity = severity
        self.window = window
        self.observed = observed
        self.baseline = baseline
        self.ratio = ratio
        self.detectedAt = detectedAt
    }

    enum CodingKeys: String, CodingKey {
        case alertID = "alertId", hotelID = "hotelId", category, severity, window, observed, baseline, ratio, detectedAt
    }
}

extension EarlyWarningAlert: ValidatedObject {
    static let fieldRules = FieldRules([
        CodingKeys.hotelID: .identifier,
        .observed: .integer(0...1_000_000),
        .baseline: .number(0...1_000_000),
        .ratio: .number(0...1_000_000),
    ])
}
