import ComplaintPipeline
import Foundation
import Testing

/// An unmounted ConfigMap was logged at error and counted as a rejected edit on every look (720 an hour).
@Suite("Live configuration")
struct LiveConfigurationTests {
    @Test("a file that cannot be read is reported once until it reads again, then once more if it goes again")
    func unreadableReportedOnce() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("live-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("rules.yaml").path
        try "rules: 1\n".write(toFile: path, atomically: true, encoding: .utf8)
        let live = try LiveConfiguration(name: "rules", path: path) { file throws(ConfigurationFileError) in file.text }

        try FileManager.default.removeItem(atPath: path)
        guard case .rejected = live.reload() else { Issue.record("a vanished file was not reported"); return }
        #expect(live.reload() == .unchanged, "reported again on the next look")
        #expect(live.reload() == .unchanged)
        #expect(live.current == "rules: 1\n", "the last good value stays")

        try "rules: 1\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(live.reload() == .unchanged)
        try FileManager.default.removeItem(atPath: path)
        guard case .rejected = live.reload() else { Issue.record("gone again, not reported"); return }
    }
}
