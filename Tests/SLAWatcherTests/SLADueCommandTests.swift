import ComplaintTesting
import EmbeddedDefault
import Foundation
import Testing

@Suite("redress sla due", .enabled(if: RedressExecutable.url != nil, "redress executable not built"))
struct SLADueCommandTests {
    static func run(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        // The shipped policy file, found from the package folder.
        let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let result = try await ProgramRun.run(
            try #require(RedressExecutable.url).path, ["sla", "due"] + arguments, workingDirectory: package.path)
        return (result.status, result.output.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    @Test("business minutes on the shipped office calendar, and minutes around the clock, as RFC 3339 UTC")
    func due() async throws {
        let office = try await Self.run(["--start", "2026-11-24T17:30:00Z", "--business-minutes", "120", "--calendar", "office", "--timezone", "Asia/Shanghai"])
        #expect(office.status == 0)
        #expect(office.output == "2026-11-25T03:00:00Z")
        let wall = try await Self.run(["--start", "2026-11-24T17:30:00Z", "--minutes", "45"])
        #expect(wall.output == "2026-11-24T18:15:00Z")
        let unknown = try await Self.run(["--start", "2026-11-24T17:30:00Z", "--business-minutes", "5", "--calendar", "weekends"])
        #expect(unknown.status != 0)
        #expect(unknown.output.contains("no calendar 'weekends' in the policy file (it has: 24x7, office)"))
    }

    @Test("--start takes any RFC 3339 date-time (fractional seconds, an offset) and names itself when it is not one")
    func startDateTime() async throws {
        let offset = try await Self.run(["--start", "2026-11-25T01:30:00.500+08:00", "--minutes", "45"])
        #expect(offset.status == 0)
        #expect(offset.output == "2026-11-24T18:15:00Z")
        let bad = try await Self.run(["--start", "2026-11-24 17:30", "--minutes", "45"])
        #expect(bad.status != 0)
        #expect(bad.output.contains("--start '2026-11-24 17:30' is not an RFC 3339 date-time such as 2026-11-24T17:30:00Z"))
    }
}
