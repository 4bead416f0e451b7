import ComplaintEvents
import ComplaintTesting
import Foundation
import RdKafka
import RdKafkaTestKit
import Testing

/// `redress topics` (Compose's init step): every Redress topic under the prefix, with a retention the
/// services' inboxes cover.
@Suite("redress topics", .timeLimit(.minutes(2)))
struct TopicsCommandTests {
    /// Runs `redress topics` with `arguments` against `brokers`; its exit status and output.
    static func run(_ arguments: [String], brokers: String) async throws -> (status: Int32, output: String) {
        let executable = try #require(RedressExecutable.url, "redress not built")
        let command = try await ChildProcess(
            executable, arguments: ["topics", "--brokers", brokers] + arguments, removing: ["KAFKA_BROKERS", "KAFKA_TOPIC_PREFIX", "REDRESS_UP_ENV"])
        defer { command.stop() }
        try #require(await eventually(timeout: .seconds(60)) { !command.isRunning }, "redress topics did not finish: \(command.output)")
        return (command.terminationStatus, command.output)
    }

    @Test("creates every topic under the prefix, with the retention asked for, and leaves existing ones alone",
          .enabled(if: KafkaTestEnvironment.usesExternalKafka, "the embedded cluster has no controller for CreateTopics"))
    func createsEveryTopic() async throws {
        let kafka = try KafkaTestEnvironment()
        let brokers = kafka.bootstrapServers.joined(separator: ",")
        let prefix = "topics-\(UUID().uuidString.prefix(8).lowercased())."
        let first = try await Self.run(["--prefix", prefix, "--retention-days", "3", "--partitions", "2"], brokers: brokers)
        #expect(first.status == 0, "\(first.output)")
        for topic in Topics.all {
            #expect(first.output.contains("\(prefix)\(topic.name): created"), "\(first.output)")
        }
        // --topic-prefix too, as deadletter and sla backtest spell it.
        let again = try await Self.run(["--topic-prefix", prefix], brokers: brokers)
        #expect(again.status == 0, "\(again.output)")
        #expect(again.output.contains("\(prefix)\(Topics.deadLetter.name): exists"), "\(again.output)")
    }

    @Test("a retention the inbox cannot cover, or none at all, is refused before any broker is asked")
    func retentionIsChecked() async throws {
        for days in ["0", "3651"] {
            let refused = try await Self.run(["--retention-days", days], brokers: "127.0.0.1:1")
            #expect(refused.status != 0)
            #expect(refused.output.contains("--retention-days must be between 1 and 3650"), "\(refused.output)")
        }
    }
}
