import ComplaintPipeline
import ComplaintTesting
import Foundation
import Intake
import NIOHTTP1
import Testing

/// Every 422 of the list names its parameter: a NUL in a value and a cursor whose time has the printed
/// shape but no such date reached PostgreSQL and came back as a data exception naming no field.
@Suite("List parameters PostgreSQL would refuse", .timeLimit(.minutes(3)))
struct QueryValidationTests {
    static func cursor(_ time: String) -> String {
        Data(#"{"t":"\#(time)","i":"6f1c2a4e-8b0d-4c5e-9a7f-3d2b1e0c9f8a"}"#.utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    @Test("a cursor whose time PostgreSQL could not have printed is refused", arguments: [
        ("2026-12-05 07:22:11.123456+00", true),
        ("2026-12-05 07:22:11+05:30", true),
        ("2024-02-29 23:59:59-08", true),
        ("2026-13-45 99:99:99+00", false),
        ("2026-02-29 00:00:00+00", false),
        ("2026-04-31 00:00:00+00", false),
        ("2026-12-05 24:00:00+00", false),
        ("0000-01-01 00:00:00+00", false),
        ("2026-12-05 07:22:11+16", false),
        ("2026-12-05T07:22:11Z", false),
    ])
    func printed(time: String, valid: Bool) {
        #expect((PageCursor(token: Self.cursor(time)) != nil) == valid)
    }

    @Test("NUL in a query value and an impossible cursor time are 422s naming query.<name>")
    func namedFields() async throws {
        try await IntakeHarness.run { harness in
            for name in ["assignee", "hotelId", "source"] {
                let extra = name == "source" ? "&externalId=x" : ""
                let reply = try await harness.request(.GET, "/v1/complaints?\(name)=a%00b\(extra)", key: harness.admin)
                #expect(reply.status == 422, "\(name): \(reply.body)")
                #expect((reply.json["errors"] as? [[String: String]])?.first?["field"] == "query.\(name)", "\(reply.body)")
            }
            for time in ["2026-13-45 99:99:99+00", "2026-02-30 10:00:00+00"] {
                let reply = try await harness.request(.GET, "/v1/complaints?cursor=\(Self.cursor(time))", key: harness.admin)
                #expect(reply.status == 422, "\(time): \(reply.body)")
                #expect((reply.json["errors"] as? [[String: String]])?.first?["field"] == "query.cursor", "\(reply.body)")
            }
            let fine = try await harness.request(.GET, "/v1/complaints?cursor=\(Self.cursor("2026-12-05 07:22:11.123456+00"))", key: harness.admin)
            #expect(fine.status == 200, "\(fine.body)")
        }
    }
}
