import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import HotelTime
import NIOCore
import PostgresNIO
import RdKafka
import RdKafkaTestKit
import Testing

/// Two `redress-sla-watcher` processes on one database and one Kafka; one is killed with SIGKILL while
/// timers fire. Every clock event still appears exactly once. The replicas read and write topics under a
/// prefix of this test's own (`KAFKA_TOPIC_PREFIX`), so it runs against a shared Kafka too.
@Suite(
    "SLA watcher replicas as processes", .timeLimit(.minutes(3)),
    .enabled(if: RedressExecutable.named("redress-sla-watcher") != nil, "redress-sla-watcher not built"))
struct WatcherProcessTests {
    static let complaints = 20
    /// Per complaint: timer started; acknowledge warning, breach, level 1; resolve warning, breach, level 2.
    static let eventsPerComplaint = 7

    static let policy = """
        policies:
          - name: fast
            response: 4s
            resolve: 8s
            warning: 50%
            escalation:
              - level: 1
                when: response_breached
              - level: 2
                when: resolve_breached
            followUp: 1h
            ceiling: 1h
        """

    static var packageRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    @Test("a replica killed while timers fire: the other fires the rest; every clock event once, none skipped")
    func killedReplica() async throws {
        let executable = try #require(RedressExecutable.named("redress-sla-watcher"))
        let kafka = try KafkaTestEnvironment()
        // Topics and group of this test alone (KAFKA_TOPIC_PREFIX): on a real Kafka, other runs' events stay out.
        let prefix = "t\(UUID().uuidString.prefix(8).lowercased())."
        for topic in [Topics.classified.name, Topics.assigned.name, Topics.updated.name, Topics.sla.name, Topics.deadLetter.name] {
            try await kafka.createTopic(prefix + topic, partitions: 3)
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sla-replicas-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let policyPath = folder.appendingPathComponent("policies.yaml").path
        try Self.policy.write(toFile: policyPath, atomically: true, encoding: .utf8)

        try await withFreshDatabase { databaseURL in
            let environment = [
                "KAFKA_BROKERS": kafka.bootstrapServers.joined(separator: ","), "DATABASE_URL": databaseURL,
                "SLA_POLICY_FILE": policyPath, "REDRESS_HOME": Self.packageRoot, "KAFKA_SESSION_TIMEOUT_MS": "6000", "LOG_LEVEL": "info",
                // The rows the killed replica was publishing are taken over after 25 s (the shortest lease
                // allowed) rather than a minute.
                "OUTBOX_LEASE_SECONDS": "25", "KAFKA_TOPIC_PREFIX": prefix,
            ]
            func replica() async throws -> ChildProcess {
                try await ChildProcess(executable, environment: environment.merging(["HTTP_PORT": "\(try unusedLoopbackPort())", "HTTP_HOST": "127.0.0.1"]) { $1 })
            }
            let first = try await replica()
            var second: ChildProcess?
            defer {
                first.stop()
                second?.stop()
            }
            let consumer = try KafkaConsumer(configuration: kafka.consumerConfiguration(topics: [prefix + Topics.sla.name]), logger: kafka.logger)
            do {
            try await withRunningServices([consumer]) {
                // The deadlines spread over two seconds, so firing is under way when the first replica dies.
                let start = Date()
                let events = try (0..<Self.complaints).map { index in
                    var event = try EventFixtures.assigned(complaintID: UUID())
                    event.hotelID = "SHA-PD01"
                    event.data.department = "housekeeping"
                    event.data.registeredAt = start.addingTimeInterval(Double(index) * 0.1)
                    return event
                }
                let producer = try KafkaProducer(configuration: kafka.producerConfiguration(), logger: kafka.logger)
                try await withRunningServices([producer]) {
                    for event in events {
                        _ = try await producer.sendAndAwait(KafkaProducerMessage(
                            topic: prefix + Topics.assigned.name, key: Topics.assigned.key(for: event).map { ByteBuffer(bytes: $0) },
                            value: ByteBuffer(bytes: try Topics.assigned.encode(event))))
                    }
                }
                var seen: [UUID: EventEnvelope<ComplaintSLAEvent>] = [:]
                func read(until done: @escaping @Sendable ([EventEnvelope<ComplaintSLAEvent>]) -> Bool) async throws {
                    let before = Array(seen.values)
                    let more = try await withTimeout(.seconds(60)) {
                        var received = before
                        if done(received) { return received }
                        for try await batch in consumer.batches() {
                            received += try batch.map { try Topics.sla.decode(Array($0.value.readableBytesView)) }
                            if done(Self.unique(received)) { break }
                        }
                        return received
                    }
                    for event in more { seen[event.id] = event }
                }
                try await read { events in events.filter { $0.data.kind == .timerStarted }.count == Self.complaints }
                second = try await replica()
                // Kill the first as soon as timers have begun to fire.
                try await read { events in events.contains { $0.data.kind == .warning } }
                await first.kill()
                try await read { events in events.count >= Self.complaints * Self.eventsPerComplaint }
                let steps = seen.values.map { "\($0.data.complaintID) \($0.data.kind.rawValue) \($0.data.target.rawValue)" }
                #expect(steps.count == Self.complaints * Self.eventsPerComplaint, "\(second?.output ?? "")")
                #expect(Set(steps).count == steps.count, "a clock event was published twice as different events")
                #expect(Set(seen.values.map(\.data.complaintID)) == Set(events.map(\.data.complaintID)))
            }
            } catch {
                let state = try? await withClient(try DatabaseConfiguration(url: databaseURL)) { client in
                    try await client.query(
                        "SELECT (SELECT count(*) FROM sla.timers WHERE fired_at IS NOT NULL)::int, (SELECT count(*) FROM sla.timers WHERE fired_at IS NULL)::int, (SELECT count(*) FROM sla.outbox)::int",
                        logger: .complaintTest).collect().first?.decode((Int, Int, Int).self)
                }
                Issue.record("timers fired, unfired, outbox rows: \(String(describing: state))")
                Issue.record("first replica:\n\(first.output.suffix(3000))\nsecond replica:\n\(second?.output.suffix(3000) ?? "")")
                throw error
            }
        }
    }

    static func unique(_ events: [EventEnvelope<ComplaintSLAEvent>]) -> [EventEnvelope<ComplaintSLAEvent>] {
        Array(Dictionary(events.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first }).values)
    }
}

/// A database of its own on the test server (a service process uses its fixed schema names), dropped afterwards.
func withFreshDatabase(_ body: (String) async throws -> Void) async throws {
    let configuration = try await TestDatabase.shared.configuration()
    let name = "t_\(UUID().uuidString.prefix(8).lowercased())"
    guard var url = URLComponents(string: configuration.url) else { throw TestFailure("unusable DATABASE_URL") }
    url.path = "/\(name)"
    let databaseURL = try #require(url.string)
    try await withClient(configuration) { client in
        _ = try await client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: .complaintTest)
        do {
            try await body(databaseURL)
        } catch {
            _ = try? await client.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"), logger: .complaintTest)
            throw error
        }
        _ = try await client.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"), logger: .complaintTest)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
