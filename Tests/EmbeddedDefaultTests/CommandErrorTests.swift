import ComplaintTesting
import EventTail
import Foundation
import Testing

/// How `redress` commands fail: a failure while running is a message and exit status 1; a bad
/// argument is exit status 64 with the usage. Scripts tell the two apart.
@Suite("redress command failures", .enabled(if: RedressExecutable.url != nil, "redress executable not built"), .timeLimit(.minutes(2)))
struct CommandErrorTests {
    static func run(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let executable = try #require(RedressExecutable.url)
        let child = try await ChildProcess(executable, arguments: arguments, removing: ["KAFKA_BROKERS", "DATABASE_URL", "REDRESS_UP_ENV", "KAFKA_TOPIC_PREFIX"])
        defer { child.stop() }
        try #require(await eventually(timeout: .seconds(30)) { !child.isRunning }, "\(arguments) still runs: \(child.output)")
        return (child.terminationStatus, child.output)
    }

    @Test("a policy file it cannot read is a failure (exit 1, no usage text), not a usage error")
    func runtimeFailure() async throws {
        let missing = FileManager.default.temporaryDirectory.appendingPathComponent("no-such-policy-\(UUID().uuidString.prefix(8)).yaml").path
        let result = try await Self.run([
            "sla", "backtest", "--policy", missing, "--from", "2026-01-01T00:00:00Z", "--to", "2026-02-01T00:00:00Z", "--brokers", "127.0.0.1:1",
        ])
        #expect(result.status == 1, "\(result)")
        #expect(!result.output.contains("USAGE"), "\(result)")
        #expect(result.output.contains("no-such-policy"), "\(result)")
    }

    @Test("tail refuses a --type that matches no event, instead of printing nothing for ever; hotel ids in any case")
    func tailTypes() async throws {
        for type in ["sla-warning", "notifications"] {
            let result = try await Self.run(["tail", "--brokers", "127.0.0.1:1", "--type", type])
            #expect(result.status == 64 && result.output.contains("no event type '\(type)'"), "\(result)")
        }
        #expect(throws: Never.self) { try TailFilter.checkTypes(["sla", "dead-letter", "redress.complaint.sla.v1"]) }
        var lower = TailFilter(hotels: ["lon-kx02"])
        let line = EventLine(topic: "complaints.sla.v1", value: Array(#"{"type":"redress.complaint.sla.v1","hotelid":"LON-KX02","data":{}}"#.utf8))
        let admitted = lower.admits(line)
        #expect(admitted)
    }
}
