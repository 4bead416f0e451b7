import EmbeddedDefault
import Foundation
import Logging
import RdKafkaTestKit
import Testing

@Suite("ServiceSupervisor", .timeLimit(.minutes(2)))
struct ServiceSupervisorTests {
    @Test("a child that dies is restarted; shutdown stops it by PID")
    func restartsAndStops() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("supervisor-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let log = folder.appendingPathComponent("child.log").path
        let child = ServiceSupervisor.Child(
            name: "sleeper", executable: "/bin/sh", arguments: ["-c", "echo \"started $GREETING\"; exec sleep 600"],
            environment: ["GREETING": "hello"], logFile: log)
        let supervisor = ServiceSupervisor(children: [child], stopTimeout: .seconds(5), logger: .kafkaTest)

        var pids: [Int32] = []
        try await withRunningServices([supervisor]) {
            let first = try await withTimeout(.seconds(60)) {
                while supervisor.processIDs["sleeper"] == nil { try await Task.sleep(for: .milliseconds(20)) }
                return supervisor.processIDs["sleeper"]!
            }
            pids.append(first)
            // Its PID is known from the spawn on, before the shell has run (or even exec'd): killed then,
            // it would never log its line. Wait for the line, as for the second's before the shutdown.
            try await Self.waitForLines("started hello", count: 1, in: log)
            kill(first, SIGKILL)
            let second = try await withTimeout(.seconds(60)) {
                while true {
                    if let pid = supervisor.processIDs["sleeper"], pid != first { return pid }
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
            pids.append(second)
            #expect(supervisor.restartCounts["sleeper"] == 1)
            try await Self.waitForLines("started hello", count: 2, in: log)
        }
        // Graceful shutdown stopped the second child.
        #expect(kill(pids[1], 0) != 0, "the child is gone after shutdown")
        let text = try String(contentsOfFile: log, encoding: .utf8)
        #expect(text.components(separatedBy: "started hello").count - 1 == 2, "both runs logged to the child's file, with its environment")
    }

    /// A service that refuses its settings exits 2 (LOG_LEVEL warn, a missing secret): restarted, it fails
    /// again every few seconds for ever, and the reason sits in its log only.
    @Test("a child that exits with status 2 (configuration refused) is not restarted, and its reason is kept")
    func configurationErrorNotRestarted() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("supervisor-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let log = folder.appendingPathComponent("refused.log").path
        let child = ServiceSupervisor.Child(
            name: "refused", executable: "/bin/sh",
            arguments: ["-c", "echo \"LOG_LEVEL 'warn' is not one of trace, debug, info\" >&2; exit 2"], environment: [:], logFile: log)
        let crashing = ServiceSupervisor.Child(
            name: "crashing", executable: "/bin/sh", arguments: ["-c", "exit 1"], environment: [:], logFile: folder.appendingPathComponent("crashing.log").path)
        let supervisor = ServiceSupervisor(children: [child, crashing], stopTimeout: .seconds(5), logger: .kafkaTest)
        try await withRunningServices([supervisor]) {
            let reason = try await withTimeout(.seconds(60)) {
                while supervisor.givenUp["refused"] == nil { try await Task.sleep(for: .milliseconds(20)) }
                return supervisor.givenUp["refused"]!
            }
            #expect(reason.contains("LOG_LEVEL 'warn'"), "\(reason)")
            // Any other failure is still restarted.
            try await withTimeout(.seconds(60)) {
                while (supervisor.restartCounts["crashing"] ?? 0) < 1 { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(supervisor.restartCounts["refused"] == nil && supervisor.processIDs["refused"] == nil)
            #expect(supervisor.givenUp["crashing"] == nil)
        }
    }

    /// Waits until the file at `path` holds `count` occurrences of `line` (a child's output, written once it runs).
    static func waitForLines(_ line: String, count: Int, in path: String) async throws {
        try await withTimeout(.seconds(60)) {
            while ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").components(separatedBy: line).count - 1 < count {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    static func mode(_ path: String) throws -> Int {
        try #require((FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue)
    }

    @Test("children's logs are readable by their owner alone: the folder 0700, a new log and an earlier run's 0644 one 0600 once started")
    func privateLogs() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("supervisor-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let logs = folder.appendingPathComponent("logs").path
        try ServiceSupervisor.prepareLogFolder(logs)
        #expect(try Self.mode(logs) == 0o700)
        // The folder above keeps its mode (as root, PostgreSQL's user must reach its data folder beside the logs).
        #expect(try Self.mode(folder.path) & 0o077 != 0)
        // A folder an earlier run made 0755 is made private too.
        #expect(chmod(logs, 0o755) == 0)
        try ServiceSupervisor.prepareLogFolder(logs)
        #expect(try Self.mode(logs) == 0o700)

        let fresh = logs + "/fresh.log", earlier = logs + "/earlier.log"
        #expect(FileManager.default.createFile(atPath: earlier, contents: Data("an earlier run\n".utf8), attributes: [.posixPermissions: 0o644]))
        let children = [fresh, earlier].enumerated().map { index, log in
            ServiceSupervisor.Child(name: "sleeper\(index)", executable: "/bin/sh", arguments: ["-c", "echo started; exec sleep 600"], environment: [:], logFile: log)
        }
        let supervisor = ServiceSupervisor(children: children, stopTimeout: .seconds(5), logger: .kafkaTest)
        try await withRunningServices([supervisor]) {
            try await withTimeout(.seconds(60)) {
                while supervisor.processIDs.count < 2 { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(try Self.mode(fresh) == 0o600)
            #expect(try Self.mode(earlier) == 0o600)
            // Before the shutdown stops them: each has run and logged its line.
            try await Self.waitForLines("started", count: 1, in: fresh)
            try await Self.waitForLines("started", count: 1, in: earlier)
        }
        // Appended to, not replaced.
        #expect(try String(contentsOfFile: earlier, encoding: .utf8).hasPrefix("an earlier run\n"))
        #expect(try String(contentsOfFile: fresh, encoding: .utf8) == "started\n")
    }

    @Test("up.env quotes values so a shell reads them back unchanged")
    func environmentFileQuoting() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("up-\(UUID().uuidString).env").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let tricky = "postgres://u:p'a$s\"w@host:5432/db?x=1&y=2"
        try UpEnvironmentFile(variables: [("KAFKA_BROKERS", "127.0.0.1:9092"), ("DATABASE_URL", tricky)]).write(to: path)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)

        let shell = try await ProgramRun.run(
            "/bin/sh", ["-c", ". \"$0\" && printf '%s\\n%s' \"$KAFKA_BROKERS\" \"$DATABASE_URL\"", path],
            environment: ["KAFKA_BROKERS": nil, "DATABASE_URL": nil])
        #expect(shell.standardOutput == "127.0.0.1:9092\n\(tricky)")
    }
}
