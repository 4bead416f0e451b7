import ComplaintEvents
import ComplaintStore
import ComplaintTesting
import EmbeddedDefault
import Foundation
import Logging
import NIOHTTP1
import PostgresNIO
import RdKafka
import RdKafkaTestKit
import NIOCore
import Testing

/// `redress up` as a developer runs it: a separate process, stopped with SIGTERM.
@Suite("redress up", .serialized, .timeLimit(.minutes(6)), .enabled(if: RedressExecutable.url != nil, "redress executable not built"))
struct RedressUpTests {
    @Test("starts broker and database, migrates, writes up.env, and stops cleanly leaving no process behind")
    func upSmokeTest() async throws {
        let up = try await UpProcess()
        #expect(up.banner.contains("Redress is up"), "\(up.banner)")
        func value(_ name: String) -> String? { up.variables[name] }
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
        let keyFile = try FileManager.default.attributesOfItem(atPath: up.folder.appendingPathComponent("admin.key").path)
        #expect((keyFile[.posixPermissions] as? Int) == 0o600)
        // The services' logs may quote what guests sent: the folder and every log are the user's alone.
        let logs = up.folder.appendingPathComponent("logs").path
        #expect((try FileManager.default.attributesOfItem(atPath: logs)[.posixPermissions] as? Int) == 0o700)
        let logFiles = try FileManager.default.contentsOfDirectory(atPath: logs).filter { $0.hasSuffix(".log") }
        #expect(!logFiles.isEmpty)
        for file in logFiles {
            #expect((try FileManager.default.attributesOfItem(atPath: logs + "/" + file)[.posixPermissions] as? Int) == 0o600, "\(file)")
        }

        // Operator commands find the stack through up.env, without sourcing it first.
        let list = try await ChildProcess(
            try #require(RedressExecutable.url), arguments: ["apikey", "list", "--data-dir", up.folder.path],
            removing: ["DATABASE_URL", "KAFKA_BROKERS", "REDRESS_ADMIN_KEY"])
        defer { list.stop() }
        try #require(await eventually(timeout: .seconds(30)) { !list.isRunning }, "apikey list did not finish: \(list.output)")
        #expect(list.terminationStatus == 0, "\(list.output)")
        #expect(list.output.contains(keyID) && list.output.contains("admin"), "\(list.output)")

        // A shell that sourced an up.env of an earlier run still carries that run's DATABASE_URL (each run
        // picks new ports); REDRESS_UP_ENV, set by sourcing, makes the commands read the file again.
        #expect(up.variables["REDRESS_UP_ENV"] == up.folder.appendingPathComponent("up.env").path)
        // The shell as sourcing an earlier run's file left it: that run's values and their digest.
        let earlier = ["KAFKA_BROKERS": "127.0.0.1:1", "DATABASE_URL": "postgres://redress:gone@127.0.0.1:1/redress"]
        let stale = try await ChildProcess(
            try #require(RedressExecutable.url), arguments: ["apikey", "list"],
            environment: earlier.merging([
                "REDRESS_UP_ENV": up.folder.appendingPathComponent("up.env").path,
                "REDRESS_UP_ENV_DIGEST": UpEnvironmentFile.digest { earlier[$0] },
            ]) { $1 },
            removing: ["REDRESS_ADMIN_KEY"])
        defer { stale.stop() }
        try #require(await eventually(timeout: .seconds(30)) { !stale.isRunning }, "apikey list did not finish: \(stale.output)")
        #expect(stale.terminationStatus == 0 && stale.output.contains(keyID), "\(stale.output)")

        // Across real processes: a complaint posted to intake is classified, assigned to someone of the
        // shipped organisation, and intake's record shows the assignee.
        // Not skipped when a service is missing: `make test` builds them all.
        let intake = try #require(value("INTAKE_URL"), "intake not built")
        let assignment = try #require(value("ASSIGNMENT_URL"), "assignment not built")
        try #require(value("CLASSIFIER_URL") != nil, "classifier not built")
        #expect(try await up.waitUntilReady(), "the services did not become ready")
        let submitted = try await plainRequest(.POST, intake + "/v1/complaints", key: adminKey, body: """
            {"hotelId":"SHA-PD01","source":"up_test","externalId":"\(UUID().uuidString.lowercased())","channel":"front_desk",
             "reportedAt":"2026-11-24T08:00:00Z","text":"浴室的热水器坏了，一直没有热水。","language":"zh-CN",
             "guest":{"name":"王芳","roomNumber":"1512","vip":false},"reporter":{"kind":"guest"}}
            """)
        try #require(submitted.status == 201, "\(submitted.body)")
        let id = submitted.json["id"] as? String ?? ""
        var record: [String: Any] = [:]
        let assigned = await eventually(timeout: .seconds(90)) {
            record = (try? await plainRequest(.GET, intake + "/v1/complaints/\(id)", key: adminKey))?.json ?? [:]
            return (record["assignee"] as? [String: Any])?["staffId"] != nil
        }
        #expect(assigned, "intake never showed an assignee: \(record)")
        let assignee = record["assignee"] as? [String: Any] ?? [:]
        #expect((assignee["staffId"] as? String)?.hasPrefix("SHA-") == true)
        let history = try await plainRequest(.GET, assignment + "/v1/complaints/\(id)/assignments", key: adminKey)
        #expect(history.status == 200)
        #expect(((history.json["assignments"] as? [[String: Any]])?.first?["staffId"] as? String) == assignee["staffId"] as? String)

        #expect(await up.stop() == 0)
        // No server of this data folder survives.
        #expect(!up.leftSurvivors, "processes of \(up.folder.path) survived")
    }

    @Test("the shell's KAFKA_BROKERS, DATABASE_URL and KAFKA_TOPIC_PREFIX do not reach the embedded default without --external")
    func shellSettingsIgnored() async throws {
        // A shell exported to tail production (here: addresses nothing answers on) and staging's prefix.
        let up = try await UpProcess(environment: [
            "KAFKA_BROKERS": "127.0.0.1:1", "DATABASE_URL": "postgres://redress:secret@127.0.0.1:1/redress", "KAFKA_TOPIC_PREFIX": "staging.",
        ])
        #expect(up.banner.contains("Redress is up"), "\(up.banner)")
        #expect(up.banner.contains("KAFKA_BROKERS is set in this shell and ignored"), "\(up.banner)")
        #expect(up.banner.contains("DATABASE_URL is set in this shell and ignored"), "\(up.banner)")
        #expect(up.banner.contains("(embedded)") && !up.banner.contains("127.0.0.1:1 "), "\(up.banner)")
        #expect(up.variables["KAFKA_BROKERS"] != "127.0.0.1:1" && up.variables["KAFKA_BROKERS"] != nil)
        // The services it starts get no prefix: the topics it made have none.
        func services() -> [Int32] {
            // Its children: started from any of its threads, so by parent, not by the main thread's list.
            let all = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
            return all.compactMap { Int32($0) }.filter { pid in
                let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
                // pid (comm) state ppid …: the fields after the last ')'.
                guard let close = stat.lastIndex(of: ")") else { return false }
                let fields = stat[stat.index(after: close)...].split(separator: " ")
                return fields.count > 1 && Int32(fields[1]) == up.process.pid
            }.filter { pid in
                // A service's executable (redress-intake, …), not the PostgreSQL server of the data folder.
                let command = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline")))?.split(separator: 0).first
                return command.map { URL(fileURLWithPath: String(decoding: $0, as: UTF8.self)).lastPathComponent.hasPrefix("redress-") } ?? false
            }
        }
        try #require(await eventually(timeout: .seconds(60)) { !services().isEmpty }, "no service started")
        for pid in services() {
            guard let data = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ")) else { continue }
            let environment = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            #expect(!environment.contains("KAFKA_TOPIC_PREFIX=staging."), "service \(pid) got the shell's prefix")
            #expect(environment.contains("KAFKA_TOPIC_PREFIX="), "service \(pid) has no empty KAFKA_TOPIC_PREFIX")
            #expect(!environment.contains("KAFKA_BROKERS=127.0.0.1:1"), "service \(pid) got the shell's brokers")
        }
        #expect(await up.stop() == 0)
        #expect(!up.leftSurvivors, "processes of \(up.folder.path) survived")
    }

    @Test("refuses, before starting anything, a log level the services would refuse and --external without what it needs")
    func refusedOptions() async throws {
        let executable = try #require(RedressExecutable.url)
        func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32, output: String) {
            let child = try await ChildProcess(executable, arguments: arguments, environment: environment)
            defer { child.stop() }
            try #require(await eventually(timeout: .seconds(30)) { !child.isRunning }, "\(arguments) still runs: \(child.output)")
            return (child.terminationStatus, child.output)
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("redress-up-refused-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // `warn` is no level: every service would exit 2 and be restarted forever.
        let warn = try await run(["up", "--data-dir", folder, "--log-level", "warn"])
        #expect(warn.status == 64 && warn.output.contains("--log-level warn"), "\(warn)")
        // Upper case is what the services accept too.
        #expect(!FileManager.default.fileExists(atPath: folder + "/logs"), "the refused run started something")
        let external = try await run(["up", "--data-dir", folder, "--external"], environment: ["KAFKA_BROKERS": "127.0.0.1:1"])
        #expect(external.status == 64 && external.output.contains("--replication-factor"), "\(external)")
        let demo = try await run(["demo", "--data-dir", folder, "--external"])
        #expect(demo.status != 0 && demo.output.contains("embedded default only"), "\(demo)")
        #expect(!FileManager.default.fileExists(atPath: folder + "/logs"), "a refused run started something")
    }

    @Test("nobody acknowledges, time accelerated: warning, breached, escalated and re-assigned, ceiling reached")
    func nobodyAcknowledges() async throws {
        // 7,200 times faster: the serious policy's 5-minute response and 1-hour resolve targets become
        // a second each, the 72-hour ceiling 36 seconds.
        let up = try await UpProcess(arguments: ["--speed", "7200"])
        #expect(up.banner.contains("Redress is up"), "\(up.banner)")
        let intake = try #require(up.variables["INTAKE_URL"])
        let brokers = try #require(up.variables["KAFKA_BROKERS"])
        let adminKey = try #require(up.variables["REDRESS_ADMIN_KEY"])
        try #require(up.variables["SLA_WATCHER_URL"] != nil && up.variables["ASSIGNMENT_URL"] != nil, "services not built")
        #expect(try await up.waitUntilReady(), "the services did not become ready")

        // Listen before posting: a consumer of our own on the clock and assignment topics.
        var configuration = KafkaConsumerConfiguration(
            bootstrapServers: KafkaBootstrap.servers(from: brokers), groupID: "up-test-\(UUID().uuidString.prefix(8))",
            topics: [Topics.sla.name, Topics.assigned.name])
        configuration.isAutoCommitEnabled = false
        configuration.additionalProperties["fetch.wait.max.ms"] = "10"
        let consumer = try KafkaConsumer(configuration: configuration, logger: .kafkaTest)
        let submitted = try await plainRequest(.POST, intake + "/v1/complaints", key: adminKey, body: """
            {"hotelId":"SHA-PD01","source":"up_test","externalId":"\(UUID().uuidString.lowercased())","channel":"wechat",
             "reportedAt":"2026-11-24T08:00:00Z","text":"走廊里全是烟，烟雾报警器一直在响，没有人来。","language":"zh-CN",
             "guest":{"name":"赵磊","roomNumber":"2210","vip":false},"reporter":{"kind":"guest"}}
            """)
        try #require(submitted.status == 201, "\(submitted.body)")
        let id = try #require(submitted.json["id"] as? String)

        let (kinds, assignments) = try await withRunningServices([consumer]) {
            try await withTimeout(.seconds(90)) {
                var kinds: [String] = []
                var assignments: [(reason: String, level: Int, staff: String)] = []
                for try await message in consumer.messages {
                    let value = Array(message.value.readableBytesView)
                    if message.topic == Topics.sla.name, let event = try? Topics.sla.decode(value), event.data.complaintID.lowercasedString == id {
                        kinds.append(event.data.kind.rawValue)
                        if event.data.kind.rawValue == "ceiling_reached" { break }
                    } else if message.topic == Topics.assigned.name, let event = try? Topics.assigned.decode(value),
                        event.data.complaintID.lowercasedString == id
                    {
                        assignments.append((event.data.reason.rawValue, event.data.escalationLevel, event.data.assignee.staffID))
                    }
                }
                return (kinds, assignments)
            }
        }
        for kind in ["timer_started", "warning", "breached", "escalated", "ceiling_reached"] {
            #expect(kinds.contains(kind), "no \(kind) among \(kinds)")
        }
        #expect(!kinds.contains("met"), "nobody acknowledged: \(kinds)")
        // Escalation re-assigned it up the chain.
        #expect(assignments.first?.reason == "initial", "\(assignments)")
        #expect(assignments.contains { $0.reason == "escalation" && $0.level >= 1 }, "\(assignments)")

        #expect(await up.stop() == 0)
        #expect(!up.leftSurvivors, "processes of \(up.folder.path) survived")
    }
}
