import ComplaintTesting
import EmbeddedDefault
import Foundation
import Testing

/// `redress broker` as an operator uses it: a separate process, first stdout line = bootstrap.
@Suite("redress broker", .timeLimit(.minutes(2)), .enabled(if: RedressExecutable.url != nil, "redress executable not built"))
struct BrokerCommandTests {
    @Test("prints its bootstrap first, serves kcat, and exits cleanly on SIGTERM", .enabled(if: Kcat.path != nil, "kcat is not installed"))
    func brokerProcess() async throws {
        let process = Process()
        guard let executable = RedressExecutable.url else {
            Issue.record("redress executable not found")
            return
        }
        process.executableURL = executable
        process.arguments = ["broker", "--brokers", "2", "--redress-topics", "--default-partitions", "4", "--topic", "scratch:6", "--log-level", "warning"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.interrupt(); kill(process.processIdentifier, SIGKILL) } }

        var firstLine = Data()
        while !firstLine.contains(UInt8(ascii: "\n")) {
            let chunk = output.fileHandleForReading.availableData
            guard !chunk.isEmpty else { break }
            firstLine.append(chunk)
        }
        let bootstrap = String(decoding: firstLine, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
        #expect(bootstrap.split(separator: ",").count == 2)
        #expect(bootstrap.split(separator: ",").allSatisfy { $0.hasPrefix("127.0.0.1:") })

        let metadata = try await Kcat.run(["-b", bootstrap, "-L"])
        #expect(metadata.standardOutput.contains("topic \"scratch\" with 6 partitions"), "\(metadata.standardOutput)\(metadata.standardError)")
        for topic in ["complaints.submitted.v1", "complaints.received.v1", "complaints.deadletter.v1", "alerts.v1"] {
            #expect(metadata.standardOutput.contains("topic \"\(topic)\" with 4 partitions"), "\(topic) missing")
        }

        process.terminate()  // SIGTERM
        let deadline = Date().addingTimeInterval(15)
        while process.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        try #require(!process.isRunning, "the broker did not stop within 15 s of SIGTERM")
        #expect(process.terminationReason == .exit && process.terminationStatus == 0)
    }
}

