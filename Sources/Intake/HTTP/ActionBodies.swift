import Access
import ComplaintEvents
import Foundation

/// `POST /v1/complaints/{id}/reopen`.
struct ReopenBody: Codable, Sendable {
    var reason: String
}

/// `POST …/compensations/{cid}/approve` and `…/reject`; the body is optional.
struct DecisionBody: Codable, Sendable {
    var note: String?
}

/// Rules the contract's decoder cannot know about request-only bodies.
enum BodyRules {
    static func text(_ value: String, field: String, maxLength: Int) throws(Problem) {
        if value.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw Problem.validation(field: field, rule: "must not be empty")
        }
        // Counted as the event's rules count, in Unicode scalars (👍🏽 is two), so that what passes here
        // also passes the event's validation instead of failing later as a 500.
        if value.unicodeScalars.count > maxLength {
            throw Problem.validation(field: field, rule: "longer than \(maxLength) characters")
        }
        if value.unicodeScalars.contains("\0") {
            throw Problem.validation(field: field, rule: "must not contain \\u0000 (NUL)")
        }
    }

    static func check(_ request: CompensationRequest) throws(Problem) {
        var errors: [Problem.FieldError] = []
        if !(1...10_000_000_000).contains(request.amountMinor) {
            errors.append(.init(field: "amountMinor", rule: "must be between 1 and 10000000000 (minor units)"))
        }
        if request.currency.count != 3 || !request.currency.unicodeScalars.allSatisfy({ ("A"..."Z").contains($0) }) {
            errors.append(.init(field: "currency", rule: "must be an ISO 4217 currency code such as CNY"))
        }
        do { try text(request.reason, field: "reason", maxLength: 1000) } catch { errors += error.errors }
        if !errors.isEmpty { throw Problem.validation(errors) }
    }
}
