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

    /// The commands that find a setting in `<data-dir>/up.env` when neither the option nor the environment
    /// gives it, each with the arguments it needs to get that far and the setting it asks for first.
    static let upEnvironmentCommands: [(arguments: [String], setting: String)] = {
        let policy = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("services/sla-watcher/policies.yaml").path
        return [
            (["migrate"], "database"), (["apikey", "list"], "database"), (["sla", "bench"], "database"), (["metrics", "bench"], "database"),
            (["notifier", "bench"], "database"), (["metrics", "rebuild"], "database"), (["replay", "metrics"], "database"),
            (["replay", "classifier"], "database"), (["topics"], "Kafka"), (["tail"], "Kafka"), (["deadletter", "list"], "Kafka"),
            (["deadletter", "show", "0:1"], "Kafka"), (["assignment", "bench", "--key", "k"], "Kafka"),
            (["sla", "backtest", "--policy", policy, "--in-force", policy, "--from", "2026-01-01T00:00:00Z", "--to", "2026-02-01T00:00:00Z"], "Kafka"),
        ]
    }()

    @Test("the operator tools declare --data-dir, --brokers and --database-url once: the same help, and each falls back to the --data-dir given")
    func sharedOptions() async throws {
        let dataDir = FileManager.default.temporaryDirectory.appendingPathComponent("no-redress-up-\(UUID().uuidString.prefix(8))").path
        for (arguments, setting) in Self.upEnvironmentCommands {
            let refused = try await Self.run(arguments + ["--data-dir", dataDir])
            let option = setting == "database" ? "--database-url" : "--brokers"
            #expect(refused.status == 64 && refused.output.contains("no \(setting): pass \(option)") && refused.output.contains("\(dataDir)/up.env"), "\(arguments): \(refused)")
            let help = try await Self.run(Array(arguments.prefix { !$0.hasPrefix("-") && $0 != "0:1" }) + ["--help"])
            // Help wraps at the terminal's width: compare the words.
            let words = help.output.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            #expect(words.contains("--data-dir <data-dir> Where `redress up` keeps its state (its up.env gives the defaults). (default: .redress)"), "\(arguments): \(words)")
            if !arguments.contains("bench") || arguments.contains("assignment") {
                let text = setting == "database"
                    ? "--database-url <database-url> PostgreSQL URL (default: $DATABASE_URL, else <data-dir>/up.env)."
                    : "--brokers <brokers> Kafka bootstrap servers (default: $KAFKA_BROKERS, else <data-dir>/up.env)."
                #expect(words.contains(text), "\(arguments): \(words)")
            }
        }
    }

    /// Before, tail and topics declared a --prefix of their own and refused --topic-prefix ("Unknown option"),
    /// which deadletter, sla backtest, replay and metrics rebuild take.
    @Test("tail and topics take --topic-prefix as well as --prefix, each with its own help")
    func topicPrefixSpellings() async throws {
        let executable = try #require(RedressExecutable.url)
        for spelling in ["--prefix", "--topic-prefix"] {
            // topics: parsed, then refused by its own check before any broker is asked.
            let topics = try await Self.run(["topics", spelling, "staging.", "--retention-days", "0", "--brokers", "127.0.0.1:1"])
            #expect(topics.status == 64 && topics.output.contains("--retention-days must be between 1 and 3650"), "\(spelling): \(topics)")
            // tail: the prefix reaches the topic it follows (named before it connects to the broker nobody runs).
            let tail = try await ChildProcess(
                executable, arguments: ["tail", "sla", spelling, "staging.", "--brokers", "127.0.0.1:1"],
                removing: ["KAFKA_BROKERS", "DATABASE_URL", "REDRESS_UP_ENV", "KAFKA_TOPIC_PREFIX"])
            defer { tail.stop() }
            let expected = "following staging.complaints.sla.v1 on 127.0.0.1:1"
            _ = await eventually(timeout: .seconds(30)) { tail.output.contains(expected) || !tail.isRunning }
            #expect(tail.output.contains(expected), "\(spelling): \(tail.output)")
        }
        for (command, help) in [("tail", "Put before Redress's topic names,"), ("topics", "Put before every topic name,")] {
            let result = try await Self.run([command, "--help"])
            let words = result.output.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            #expect(words.contains("--prefix, --topic-prefix <prefix> \(help) as services started with the same KAFKA_TOPIC_PREFIX read and write them"), "\(command): \(words)")
        }
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
