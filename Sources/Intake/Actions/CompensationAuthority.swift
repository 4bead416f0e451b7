import Access
import Foundation

/// How much compensation each role may grant on one complaint without a manager's approval.
///
/// Limits are per currency, in minor units, and count everything already approved on the complaint
/// in that currency. A role without limits (managers and admins by default) may grant any amount; a
/// currency missing from a role's limits means that role may grant nothing in it alone.
public struct CompensationAuthority: Sendable, Hashable {
    public var limits: [AccessRole: [String: Int64]]

    /// Front-line staff up to ¥200, $30 or €30 per complaint; managers unlimited.
    public static let `default` = CompensationAuthority(limits: [.staff: ["CNY": 20_000, "USD": 3_000, "EUR": 3_000]])

    public init(limits: [AccessRole: [String: Int64]]) {
        self.limits = limits
    }

    /// Whether `role` may grant a total of `total` minor units of `currency` on one complaint.
    public func allows(_ role: AccessRole, total: Int64, currency: String) -> Bool {
        guard role != .publisher else { return false }
        guard let roleLimits = limits[role] else { return true }
        guard let limit = roleLimits[currency] else { return false }
        return total <= limit
    }

    /// Parses `CNY:20000,USD:3000` (amounts in minor units).
    public static func parseLimits(_ text: String) throws -> [String: Int64] {
        var limits: [String: Int64] = [:]
        for item in text.split(separator: ",") {
            let parts = item.split(separator: ":").map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, parts[0].count == 3, parts[0].allSatisfy({ $0.isUppercase && $0.isASCII }),
                  let amount = Int64(parts[1]), amount >= 0
            else {
                throw InvalidAuthorityLimits(text: String(item))
            }
            limits[parts[0]] = amount
        }
        return limits
    }
}

/// A compensation limit setting is not `CUR:amount[,CUR:amount…]`.
public struct InvalidAuthorityLimits: Error, CustomStringConvertible {
    public var text: String
    public var description: String { "compensation limit '\(text)' is not CURRENCY:amountInMinorUnits, e.g. CNY:20000" }
}
