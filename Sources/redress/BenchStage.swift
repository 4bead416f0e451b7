import AsyncHTTPClient
import Logging
import RdKafka
import NIOCore
import NIOHTTP1
import Synchronization

/// Waits until a stage a benchmark runs in this process listens (its port, learnt from
/// `onServerRunning`) and answers `/health/ready` (migrations applied, start-up done), at most `limit`:
/// a stage that cannot reach its database retries its migrations for ever, and so would the bench.
func waitUntilReady(port: borrowing Mutex<Int>, limit: Duration = .seconds(120)) async throws {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        let current = port.withLock { $0 }
        if current != 0, let response = try? await HTTPClient.shared.execute(
            HTTPClientRequest(url: "http://127.0.0.1:\(current)/health/ready"), timeout: .seconds(2)), response.status == .ok { return }
        try await Task.sleep(for: .milliseconds(100))
    }
    throw BenchStageNotReady(limit: limit)
}

/// The stage a benchmark started did not become ready (its database or broker unreachable, say).
struct BenchStageNotReady: Error, CustomStringConvertible {
    var limit: Duration
    var description: String { "the stage under test was not ready within \(limit): check DATABASE_URL and KAFKA_BROKERS (its log says more)" }
}

/// Creates a benchmark run's own topics, `bench-<run>.<name>` with 6 partitions each, on the embedded
/// cluster in this process or on `brokers`; returns their names in the order of `names`.
func makeBenchTopics(
    _ names: [String], run: some StringProtocol, embedded: EmbeddedKafkaCluster?, brokers: [String], logger: Logger
) async throws -> [String] {
    let topics = names.map { "bench-\(run).\($0)" }
    if let embedded {
        for topic in topics { try embedded.createTopic(topic, partitions: 6) }
    } else {
        let admin = try KafkaAdminClient(bootstrapServers: brokers, logger: logger)
        _ = try await admin.createTopics(topics.map { KafkaTopicSpecification(name: $0, partitions: 6, replicationFactor: 1) })
    }
    return topics
}

/// Waits until a benchmark's consumer owns partitions (it must listen before anything is sent), at most
/// a minute: a broker that is not there would otherwise keep the benchmark waiting for ever.
func waitForPartitions(_ consumer: KafkaConsumer, brokers: [String]) async throws {
    // A consumer joins its group at its first read; this one must own its partitions before it reads.
    try consumer.subscribe()
    let deadline = ContinuousClock.now + .seconds(60)
    while consumer.assignment.isEmpty {
        guard ContinuousClock.now < deadline else { throw NoPartitions(brokers: brokers) }
        try await Task.sleep(for: .milliseconds(50))
    }
}

/// A benchmark's consumer was given no partitions: the broker is not reachable.
struct NoPartitions: Error, CustomStringConvertible {
    var brokers: [String]
    var description: String { "the Kafka consumer got no partitions within 60 s: is KAFKA_BROKERS (\(brokers.joined(separator: ","))) reachable?" }
}
