import ComplaintEvents
import ComplaintTesting
import Foundation
import Hummingbird
import RdKafka
import RdKafkaTestKit
import Testing

/// `redress loadgen` prints figures that scripts and notes quote: a run in which intake refused the
/// requests must not pass for a measurement.
@Suite("redress loadgen", .timeLimit(.minutes(2)))
struct LoadgenTests {
    @Test("refused requests are not throughput: the command exits 1 and says the figures are not a measurement")
    func refusalsFail() async throws {
        let executable = try #require(RedressExecutable.url, "redress not built")
        let router = Router()
        router.post("/v1/complaints") { _, _ -> Response in
            Response(status: .unauthorized, body: .init(byteBuffer: .init(string: #"{"title":"unknown key"}"#)))
        }
        try await withLoopbackServer(router) { base in
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("loadgen-\(UUID().uuidString.prefix(8))").path
            let run = try await ChildProcess(
                executable, arguments: ["loadgen", "--url", base, "--key", "rdk_abcdefghij_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                                        "--requests", "20", "--warmup", "0", "--concurrency", "2", "--data-dir", folder],
                removing: ["INTAKE_URL", "REDRESS_ADMIN_KEY", "REDRESS_UP_ENV"])
            defer { run.stop() }
            try #require(await eventually(timeout: .seconds(60)) { !run.isRunning }, "loadgen did not finish: \(run.output)")
            #expect(run.terminationStatus == 1, "\(run.output)")
            #expect(run.output.contains("not a measurement"), "\(run.output)")
            #expect(run.output.contains("HTTP 401"), "\(run.output)")
        }
    }

    @Test("--full-loop: complaints accepted but never assigned with the clock started fail the run, not pass for figures")
    func fullLoopMissingFails() async throws {
        let executable = try #require(RedressExecutable.url, "redress not built")
        // Kafka with the topics, and an intake that accepts every complaint; no service ever handles one.
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: .kafkaTest)
        try cluster.ensureTopics(Topics.all.map { KafkaTopicSpecification(name: $0.name, partitions: 1) })
        let router = Router()
        router.post("/v1/complaints") { _, _ -> Response in
            Response(status: .created, body: .init(byteBuffer: .init(string: #"{"id":"\#(UUID().uuidString.lowercased())"}"#)))
        }
        try await withLoopbackServer(router) { base in
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("loadgen-\(UUID().uuidString.prefix(8))").path
            let run = try await ChildProcess(
                executable, arguments: ["loadgen", "--full-loop", "--url", base, "--key", "rdk_abcdefghij_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                                        "--brokers", cluster.bootstrapServers, "--requests", "3", "--warmup", "0", "--concurrency", "1",
                                        "--loop-timeout", "2", "--data-dir", folder],
                removing: ["INTAKE_URL", "REDRESS_ADMIN_KEY", "REDRESS_UP_ENV", "KAFKA_BROKERS"])
            defer { run.stop() }
            try #require(await eventually(timeout: .seconds(90)) { !run.isRunning }, "loadgen did not finish: \(run.output)")
            #expect(run.output.contains("3 missing"), "\(run.output)")
            #expect(run.terminationStatus == 1, "\(run.output)")
            #expect(run.output.contains("not a measurement"), "\(run.output)")
        }
        withExtendedLifetime(cluster) {}
    }

    @Test("options only --full-loop reads are refused without it, and several --concurrency with --rate")
    func ignoredOptionsRefused() async throws {
        let executable = try #require(RedressExecutable.url, "redress not built")
        // Everything else it needs is given: only the combination can be what is refused.
        let given = ["--url", "http://127.0.0.1:1", "--key", "rdk_abcdefghij_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "--requests", "2", "--warmup", "0"]
        for arguments in [["--rate", "5"], ["--brokers", "127.0.0.1:1"], ["--full-loop", "--brokers", "127.0.0.1:1", "--rate", "5", "--concurrency", "1", "--concurrency", "8"]] {
            let run = try await ChildProcess(executable, arguments: ["loadgen"] + given + arguments, removing: ["INTAKE_URL", "REDRESS_ADMIN_KEY", "REDRESS_UP_ENV"])
            defer { run.stop() }
            try #require(await eventually(timeout: .seconds(30)) { !run.isRunning }, "loadgen \(arguments) did not finish: \(run.output)")
            #expect(run.terminationStatus == 64, "\(arguments): \(run.output)")
        }
    }
}
