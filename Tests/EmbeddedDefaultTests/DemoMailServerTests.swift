import ComplaintTesting
import Foundation
import Testing

/// The demo's mail server (`tools/smtp_sink.py`) belongs to whoever started it.
@Suite("Demo mail server", .timeLimit(.minutes(1)))
struct DemoMailServerTests {
    @Test("killed without a chance to stop it, its parent takes the mail server down too: the port is free for the next demo")
    func stopsWithItsParent() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sink-parent-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let port = try unusedLoopbackPort()
        let pidFile = folder.appendingPathComponent("sink.pid").path
        // A stand-in for `redress demo`: a shell that starts the sink and waits.
        let parent = try await ChildProcess(URL(fileURLWithPath: "/bin/sh"), arguments: [
            "-c", "/usr/bin/python3 '\(SMTPSink.script)' \(port) '\(folder.path)' & echo $! > '\(pidFile)'; wait",
        ])
        defer { parent.stop() }
        let started = await eventually(timeout: .seconds(20)) { parent.output.contains("READY") }
        let sink = try #require(Int32((try? String(contentsOfFile: pidFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""))
        defer { kill(sink, SIGKILL) }
        try #require(started, "the sink did not start: \(parent.output)")

        kill(parent.identifier, SIGKILL)
        let gone = await eventually(timeout: .seconds(15)) { kill(sink, 0) != 0 }
        #expect(gone, "the mail server outlived its parent")
    }
}
