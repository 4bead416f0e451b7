import ComplaintStore
import ComplaintTesting
import Foundation
import Logging
import NIOHTTP1
import PostgresNIO
import Testing

/// `redress up` as a developer runs it: a separate process, stopped with SIGTERM.
@Suite("redress up", .timeLimit(.minutes(3)), .enabled(if: RedressExecutable.url != nil, "redress executable not built"))
struct RedressUpTests {
    @Test("starts broker and database, migrates, writes up.env, and stops cleanly leaving no process behind")
    func upSmokeTest() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("redress-up-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: folder) }
        let process = Process()
        guard let executable = RedressExecutable.url else { return }
        process.executableURL = executable
        process.arguments = ["up", "--data-dir", folder.path, "--log-level", "warning"]
        // The embedded default: nothing configured.
        var environment = ProcessInfo.processInfo.environment
        environment["KAFKA_BROKERS"] = nil
        environment["DATABASE_URL"] = nil
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer {
            // On a failed expectation: stop it as Ctrl-C would, so it stops its children; SIGKILL only as a last resort.
            if process.isRunning {
                process.terminate()
                let deadline = Date().addingTimeInterval(30)
                while process.isRunning && Date() < deadline { usleep(50_000) }
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            }
        }

        // Ready when it says so.
        var text = ""
        while !text.contains("settings:") {
            let chunk = output.fileHandleForReading.availableData
            guard !chunk.isEmpty else { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        #expect(text.contains("Redress is up"), "\(text)")

        let env = try String(contentsOfFile: folder.appendingPathComponent("up.env").path, encoding: .utf8)
        func value(_ name: String) -> String? {
            env.split(separator: "\n").first { $0.hasPrefix("export \(name)=") }
                .map { String($0.dropFirst("export \(name)=".count).dropFirst().dropLast()) }
        }
        let brokers = try #require(value("KAFKA_BROKERS"))
        #expect(brokers.hasPrefix("127.0.0.1:"))
        let databaseURL = try #require(value("DATABASE_URL"))

        // The shared access schema and every service schema have their tables.
        let schemas = try await withClient(try DatabaseConfiguration(url: databaseURL)) { client in
            let rows = try await client.query("SELECT DISTINCT schema FROM redress.redress_migrations ORDER BY 1", logger: .complaintTest).collect()
            return try rows.map { try $0.decode(String.self) }
        }
        #expect(schemas == ["access", "assignment", "classifier", "intake", "metrics", "notifier", "sla"])

        // A development admin key is provisioned (stored hashed) and handed over in up.env only.
        let adminKey = try #require(value("REDRESS_ADMIN_KEY"))
        #expect(adminKey.hasPrefix("rdk_"))
        let keyID = String(adminKey.dropFirst(4).prefix { $0 != "_" })
        let role = try await withClient(try DatabaseConfiguration(url: databaseURL)) { client in
            try await client.query("SELECT role FROM access.api_keys WHERE id = \(keyID)", logger: .complaintTest).collect()
                .first?.decode(String.self)
        }
        #expect(role == "admin")
        let keyFile = try FileManager.default.attributesOfItem(atPath: folder.appendingPathComponent("admin.key").path)
        #expect((keyFile[.posixPermissions] as? Int) == 0o600)

        // Across real processes: a complaint posted to intake is classified, assigned to someone of the
        // shipped organisation, and intake's record shows the assignee.
        if let intake = value("INTAKE_URL"), value("CLASSIFIER_URL") != nil, let assignment = value("ASSIGNMENT_URL") {
            let ready = try await eventually(timeout: .seconds(90)) {
                for base in [intake, assignment] {
                    guard (try? await plainRequest(.GET, base + "/health/ready", key: nil))?.status == 200 else { return false }
                }
                return true
            }
            #expect(ready, "intake and assignment did not become ready")
            let submitted = try await plainRequest(.POST, intake + "/v1/complaints", key: adminKey, body: """
                {"hotelId":"SHA-PD01","source":"up_test","externalId":"\(UUID().uuidString.lowercased())","channel":"front_desk",
                 "reportedAt":"2026-11-24T08:00:00Z","text":"浴室的热水器坏了，一直没有热水。","language":"zh-CN",
                 "guest":{"name":"王芳","roomNumber":"1512","vip":false},"reporter":{"kind":"guest"}}
                """)
            try #require(submitted.status == 201, "\(submitted.body)")
            let id = submitted.json["id"] as? String ?? ""
            var record: [String: Any] = [:]
            let assigned = try await eventually(timeout: .seconds(90)) {
                record = (try? await plainRequest(.GET, intake + "/v1/complaints/\(id)", key: adminKey))?.json ?? [:]
                return (record["assignee"] as? [String: Any])?["staffId"] != nil
            }
            #expect(assigned, "intake never showed an assignee: \(record)")
            let assignee = record["assignee"] as? [String: Any] ?? [:]
            #expect((assignee["staffId"] as? String)?.hasPrefix("SHA-") == true)
            let history = try await plainRequest(.GET, assignment + "/v1/complaints/\(id)/assignments", key: adminKey)
            #expect(history.status == 200)
            #expect(((history.json["assignments"] as? [[String: Any]])?.first?["staffId"] as? String) == assignee["staffId"] as? String)
        }

        process.terminate()
        let deadline = Date().addingTimeInterval(30)
        while process.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!process.isRunning)
        #expect(process.terminationStatus == 0)

        // No server of this data folder survives.
        let survivors = Process()
        survivors.executableURL = URL(fileURLWithPath: "/usr/bin/pgrep")
        survivors.arguments = ["-f", folder.path]
        survivors.standardOutput = FileHandle.nullDevice
        try survivors.run()
        survivors.waitUntilExit()
        #expect(survivors.terminationStatus == 1, "pgrep found processes of \(folder.path)")
    }
}
