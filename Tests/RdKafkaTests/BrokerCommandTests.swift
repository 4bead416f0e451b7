import ComplaintTesting
import EmbeddedDefault
import Foundation
import Testing

/// `redress broker` as an operator uses it: a separate process, first stdout line = bootstrap.
@Suite("redress broker", .timeLimit(.minutes(2)), .enabled(if: RedressExecutable.url != nil, "redress executable not built"))
struct BrokerCommandTests {
    @Test("prints its bootstrap first, serves kcat, and exits cleanly on SIGTERM", .enabled(if: Kcat.path != nil, "kcat is not installed"))
    func brokerProcess() async throws {
        guard let executable = RedressExecutable.url else {
            Issue.record("redress executable not found")
            return
        }
        let (lines, printed) = AsyncStream.makeStream(of: String.self)
        let process = try await LaunchedProgram.launch(
            executable.path,
            arguments: ["broker", "--brokers", "2", "--redress-topics", "--default-partitions", "4", "--topic", "scratch:6", "--log-level", "warning"],
            output: .lines { printed.yield($0) })
        // Released still running (a failed expectation), it is killed.
        defer { process.signal(SIGINT) }

        // Its first line, or nothing if it exits first.
        let bootstrap = await withTaskGroup(of: String?.self) { group in
            group.addTask { await lines.first { _ in true } }
            group.addTask {
                _ = await process.exited()
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? ""
        }
        printed.finish()
        #expect(bootstrap.split(separator: ",").count == 2)
        #expect(bootstrap.split(separator: ",").allSatisfy { $0.hasPrefix("127.0.0.1:") })

        let metadata = try await Kcat.run(["-b", bootstrap, "-L"])
        #expect(metadata.standardOutput.contains("topic \"scratch\" with 6 partitions"), "\(metadata.standardOutput)\(metadata.standardError)")
        for topic in ["complaints.submitted.v1", "complaints.received.v1", "complaints.deadletter.v1", "alerts.v1"] {
            #expect(metadata.standardOutput.contains("topic \"\(topic)\" with 4 partitions"), "\(topic) missing")
        }

        process.signal(SIGTERM)
        let exit = await process.waitForExit(timeout: .seconds(15))
        try #require(exit != nil, "the broker did not stop within 15 s of SIGTERM")
        #expect(exit?.succeeded == true, "\(String(describing: exit))")
    }
}

