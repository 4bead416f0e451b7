import Foundation

/// A compensation offered to a guest. The same `id` links its request, approval or rejection.
///
/// Money is an integer in the currency's minor unit (fen, cents) with an ISO 4217 code, never a
/// floating-point number. Upgrades and points record their cost to the hotel the same way.
public struct Compensation: Codable, Hashable, Sendable {
    public var id: UUID
    public var kind: CompensationKind
    /// Amount in minor units, e.g. `38800` for ¥388.00 in `CNY`.
    public var amountMinor: Int64
    /// ISO 4217, e.g. `CNY`, `USD`.
    public var currency: String
    public var reason: String
    /// The approver's or rejecter's remark.
    public var decisionNote: String?

    public init(id: UUID, kind: CompensationKind, amountMinor: Int64, currency: String, reason: String, decisionNote: String? = nil) {
        self.id = id
        self.kind = kind
        self.amountMinor = amountMinor
        self.currency = currency
        self.reason = reason
        self.decisionNote = decisionNote
    }
}

extension Compensation: ValidatedObject {
    static let fieldRules = FieldRules([
        CodingKeys.amountMinor: .integer(0...10_000_000_000),
        .currency: .text(maxLength: 3, .currency),
        .reason: .text(maxLength: 1000),
        .decisionNote: .text(maxLength: 1000),
    ])
}
