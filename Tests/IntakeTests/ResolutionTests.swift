import Access
import ComplaintEvents
import ComplaintPipeline
import ComplaintTesting
import Foundation
import Intake
import NIOHTTP1
import Testing

/// The end of a complaint: a pending compensation is decided before it closes.
@Suite("Closing and following up", .timeLimit(.minutes(3)))
struct ResolutionTests {
    static let resolution = #"{"text":"更换了空调压缩机","rootCause":"hvac_failure","firstContact":false}"#

    @Test("close is refused (409 naming the compensation) while a compensation is pending, and allowed once it is decided")
    func closeWithPendingCompensation() async throws {
        try await IntakeHarness.run { harness in
            let staff = try await harness.key(.staff)
            let manager = try await harness.key(.manager)
            let (_, id) = try await harness.submit(IntakeHarness.submission())
            let path = "/v1/complaints/\(id)"
            let requested = try await harness.request(
                .POST, "\(path)/compensations", key: staff, body: #"{"kind":"refund","amountMinor":50000,"currency":"CNY","reason":"退一晚房费"}"#)
            #expect(requested.status == 202)
            let pending = try #require(requested.json["compensationId"] as? String)
            #expect(try await harness.request(.POST, "\(path)/acknowledge", key: staff).status == 200)
            #expect(try await harness.request(.POST, "\(path)/resolve", key: staff, body: Self.resolution).status == 200)

            let refused = try await harness.request(.POST, "\(path)/close", key: staff)
            #expect(refused.status == 409, "\(refused.body)")
            #expect(refused.headers["content-type"] == "application/problem+json")
            #expect(refused.json["compensationId"] as? String == pending)
            #expect(refused.json["currentStatus"] as? String == "resolved")
            #expect((refused.json["type"] as? String)?.hasSuffix("/compensation-pending") == true)
            // Still resolved, and the compensation can still be decided.
            #expect(try await harness.request(.GET, path, key: staff).json["status"] as? String == "resolved")
            let approved = try await harness.request(.POST, "\(path)/compensations/\(pending)/approve", key: manager)
            #expect(approved.status == 200, "\(approved.body)")
            #expect(approved.json["compensationState"] as? String == "approved")
            let closed = try await harness.request(.POST, "\(path)/close", key: staff)
            #expect(closed.status == 200, "\(closed.body)")
            #expect(closed.json["status"] as? String == "closed")
        }
    }
}
