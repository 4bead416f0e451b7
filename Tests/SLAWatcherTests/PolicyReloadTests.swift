import ComplaintEvents
import ComplaintPipeline
import Foundation
import HotelTime
import SLAWatcher
import Testing

/// A running watcher follows its policy file: good edits are taken, broken ones are refused with their
/// line and field, and the last good policy stays in force.
@Suite("SLA policy reload")
struct PolicyReloadTests {
    static func file(response: String) -> String {
        """
        policies:
          - name: default
            response: \(response)
            resolve: 4h
        """
    }

    static func withPolicyFile(_ text: String, _ body: (String) throws -> Void) throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sla-reload-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("policies.yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        try body(path)
    }

    static func response(_ live: LiveConfiguration<SLAPolicies>) -> PolicyDuration? {
        live.current.policy(hotel: "SHA-PD01", category: .cleanliness, severity: .minor)?.response
    }

    @Test("a good edit is taken; a broken one is refused once with its line and field and the last good policy stays")
    func reload() throws {
        try Self.withPolicyFile(Self.file(response: "15m")) { path in
            let live = try LiveConfiguration(name: "sla-policies", path: path) { file throws(ConfigurationFileError) in try PolicyFile.load(file) }
            #expect(Self.response(live) == .minutes(15))
            #expect(live.reload() == .unchanged)

            try Self.file(response: "10m").write(toFile: path, atomically: true, encoding: .utf8)
            #expect(live.reload() == .loaded)
            #expect(Self.response(live) == .minutes(10))

            try Self.file(response: "-10m").write(toFile: path, atomically: true, encoding: .utf8)
            guard case .rejected(let failure) = live.reload() else {
                Issue.record("a negative target was taken")
                return
            }
            #expect(failure.description == "\(path):3: policies[0].response: must not be negative")
            #expect(Self.response(live) == .minutes(10))
            // Reported once, not on every look.
            #expect(live.reload() == .unchanged)

            try FileManager.default.removeItem(atPath: path)
            guard case .rejected(let missing) = live.reload() else {
                Issue.record("a missing file was not reported")
                return
            }
            #expect(missing.reason.hasPrefix("cannot be read"))
            #expect(Self.response(live) == .minutes(10))

            try Self.file(response: "5m").write(toFile: path, atomically: true, encoding: .utf8)
            #expect(live.reload() == .loaded)
            #expect(Self.response(live) == .minutes(5))
        }
    }

    @Test("a broken file refuses to start")
    func brokenAtStart() throws {
        try Self.withPolicyFile(Self.file(response: "soon")) { path in
            #expect(throws: ConfigurationFileError.self) {
                _ = try LiveConfiguration(name: "sla-policies", path: path) { file throws(ConfigurationFileError) in try PolicyFile.load(file) }
            }
        }
    }

    @Test("clocks computed after a reload use the new policy")
    func clockworkFollows() throws {
        try Self.withPolicyFile(Self.file(response: "15m")) { path in
            let live = try LiveConfiguration(name: "sla-policies", path: path) { file throws(ConfigurationFileError) in try PolicyFile.load(file) }
            let clockwork = Clockwork(livePolicies: live)
            var record = ClockRecord(complaintID: UUID(), hotelID: "SHA-PD01")
            record.department = "housekeeping"
            record.category = .cleanliness
            record.severity = .minor
            let registered = Date(timeIntervalSince1970: 1_800_000_000)
            record.registeredAt = registered
            record.resolveStartedAt = registered
            #expect(clockwork.desiredTimers(of: record)[TimerKey(.acknowledgeBreach)] == registered.addingTimeInterval(15 * 60))
            try Self.file(response: "10m").write(toFile: path, atomically: true, encoding: .utf8)
            live.reload()
            #expect(clockwork.desiredTimers(of: record)[TimerKey(.acknowledgeBreach)] == registered.addingTimeInterval(10 * 60))
        }
    }
}
