import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import EmbeddedDefault
import Foundation
import Logging
import NIOCore
import PostgresNIO
import RdKafka
import RdKafkaTestKit
import ServiceLifecycle
import Synchronization
import Testing

@Suite("StageRuntime", .timeLimit(.minutes(3)), .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/curl"), "curl is not installed"))
struct StageRuntimeTests {
    static func get(_ url: String) async throws -> (status: Int, body: String) {
        let text = try await ProgramRun.run("/usr/bin/curl", ["-s", "-o", "-", "-w", "\n%{http_code}", "--max-time", "10", url]).standardOutput
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
    }

    /// A test stage on fresh topics and a fresh schema (runtime tables and an `effects` table), reading
    /// `received` and writing `classified`.
    static func stage(
        _ kafka: KafkaTestEnvironment, database: DatabaseConfiguration
    ) async throws -> (runtime: StageRuntime, service: RedressService, input: Topic<ComplaintReceived>, output: Topic<ComplaintClassified>) {
        let input = Topics.received.renamed(try await kafka.makeTopic(prefix: "received", partitions: 2))
        let output = Topics.classified.renamed(try await kafka.makeTopic(prefix: "classified", partitions: 2))
        let schema = SchemaName.random(prefix: "stage")
        let service = RedressService(name: "stage-test", executable: "stage-test-\(schema)", schema: schema, developmentPort: 0)
        let effects = try MigrationSet(schema: schema, migrations: [
            Migration(version: 1, name: "effects", sql: "CREATE TABLE \(schema).effects (event_id uuid NOT NULL, complaint_id uuid NOT NULL, attempt int NOT NULL);", source: "test"),
        ])
        let settings = ServiceSettings(
            kafkaBrokers: kafka.bootstrapServers, databaseURL: database.url, httpHost: "127.0.0.1", httpPort: 0,
            logLevel: .warning, shutdownTimeout: .seconds(20))
        var runtime = StageRuntime(
            service: service, settings: settings, inputs: [StageInput(input, RecordingHandler(outputTopic: output))], logger: kafka.logger)
        runtime.migrationsOverride = [try RuntimeTables(schema: schema).migrations(), effects]
        runtime.deadLetterTopic = try await kafka.makeTopic(prefix: "deadletter", partitions: 1)
        runtime.kafkaProperties = ["fetch.wait.max.ms": "10"]
        return (runtime, service, input, output)
    }

    @Test("a whole stage: migrates, reports ready over HTTP, applies and publishes, shuts down gracefully")
    func wholeStage() async throws {
        let kafka = try KafkaTestEnvironment()
        let database = try await TestDatabase.shared.configuration()
        let port = Mutex(0)
        var (runtime, service, input, output) = try await Self.stage(kafka, database: database)
        runtime.onServerRunning = { value in port.withLock { $0 = value } }
        let schema = service.schema
        let group = try runtime.makeServiceGroup()
        let event = try EventFixtures.received()

        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let listening = try await withTimeout(.seconds(30)) {
                while port.withLock({ $0 }) == 0 { try await Task.sleep(for: .milliseconds(20)) }
                return port.withLock { $0 }
            }
            let base = "http://127.0.0.1:\(listening)"
            let live = try await eventually(timeout: .seconds(30)) { try await Self.get("\(base)/health/live").status == 200 }
            #expect(live)
            let ready = try await eventually(timeout: .seconds(60)) { try await Self.get("\(base)/health/ready").status == 200 }
            #expect(ready)

            let producer = try KafkaProducer(configuration: kafka.producerConfiguration(), logger: kafka.logger)
            try await withRunningServices([producer]) {
                _ = try await producer.sendAndAwait(KafkaProducerMessage(
                    topic: input.name, key: ByteBuffer(string: event.data.complaintID.uuidString.lowercased()),
                    value: ByteBuffer(bytes: try input.encode(event))))
            }
            let consumer = try KafkaConsumer(configuration: kafka.consumerConfiguration(topics: [output.name]), logger: kafka.logger)
            let published = try await withRunningServices([consumer]) { try await consumer.collect(1) }
            let classified = try output.decode(Array(published[0].value.readableBytesView))
            #expect(classified.data.complaintID == event.data.complaintID)
            #expect(published[0].headers.first(named: "ce_type") == ComplaintClassified.eventType)

            let metrics = try await eventually(timeout: .seconds(30)) { try await Self.get("\(base)/metrics").status == 200 }
            #expect(metrics)
            // The stage's connections carry its name, for pg_stat_activity and the server's logs.
            try await withClient(database) { client in
                let rows = try await client.query(
                    "SELECT count(*)::int FROM pg_stat_activity WHERE application_name = \(service.executable)", logger: .complaintTest
                ).collect()
                #expect(try rows[0].decode(Int.self) > 0)
            }

            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        try await withClient(database) { client in
            let rows = try await client.query(PostgresQuery(unsafeSQL: "SELECT count(*)::int FROM \(schema).effects"), logger: .complaintTest).collect()
            #expect(try rows[0].decode(Int.self) == 1)
            try await dropSchema(schema, client: client)
        }
    }

    /// Intake's HTTP API needs only PostgreSQL and the outbox: a broker outage made every replica
    /// unready at once, and a load balancer then refused every submission.
    @Test("a stage whose readiness leaves Kafka out is ready with a topic missing; /health/dependencies names it")
    func readinessWithoutKafka() async throws {
        let kafka = try KafkaTestEnvironment()
        let database = try await TestDatabase.shared.configuration()
        let port = Mutex(0)
        var (runtime, service, _, _) = try await Self.stage(kafka, database: database)
        runtime.onServerRunning = { value in port.withLock { $0 = value } }
        runtime.readinessIncludesKafka = false
        let schema = service.schema
        let deadLetters = "deadletter-\(UUID().uuidString.lowercased())"
        runtime.deadLetterTopic = deadLetters
        let group = try runtime.makeServiceGroup()
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            defer { tasks.cancelAll() }
            let listening = try await withTimeout(.seconds(30)) {
                while port.withLock({ $0 }) == 0 { try await Task.sleep(for: .milliseconds(20)) }
                return port.withLock { $0 }
            }
            let base = "http://127.0.0.1:\(listening)"
            let ready = try await eventually(timeout: .seconds(60)) { try await Self.get("\(base)/health/ready").status == 200 }
            #expect(ready, "readiness waited for a Kafka topic")
            let dependencies = try await Self.get("\(base)/health/dependencies")
            // Named by its check; which topic is in the log, not in an answer to anyone on the port.
            #expect(dependencies.status == 503 && dependencies.body.contains("topics") && !dependencies.body.contains(deadLetters), "\(dependencies)")
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        try await withClient(database) { client in try await dropSchema(schema, client: client) }
    }

    @Test("a topic the stage needs that the cluster lacks keeps it not ready (the log naming the topic) until it is created")
    func missingTopicIsNotReady() async throws {
        let kafka = try KafkaTestEnvironment()
        let database = try await TestDatabase.shared.configuration()
        let port = Mutex(0)
        var (runtime, service, _, _) = try await Self.stage(kafka, database: database)
        runtime.onServerRunning = { value in port.withLock { $0 = value } }
        let logs = CapturedLogs()
        runtime.logger = Logger(label: "stage", factory: { _ in logs })
        let schema = service.schema
        // Not created yet: with auto-creation off (a real cluster's setting), nothing would create it.
        let deadLetters = "deadletter-\(UUID().uuidString.lowercased())"
        runtime.deadLetterTopic = deadLetters
        let group = try runtime.makeServiceGroup()
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let listening = try await withTimeout(.seconds(30)) {
                while port.withLock({ $0 }) == 0 { try await Task.sleep(for: .milliseconds(20)) }
                return port.withLock { $0 }
            }
            let base = "http://127.0.0.1:\(listening)"
            var answer = (status: 0, body: "")
            let named = try await eventually(timeout: .seconds(30)) {
                answer = try await Self.get("\(base)/health/ready")
                return answer.status == 503 && answer.body.contains("topics")
            }
            #expect(named, "\(answer)")
            #expect(!answer.body.contains(deadLetters), "\(answer)")
            #expect(logs.entries.contains { $0.level == .warning && ($0.metadata["error"] ?? "").contains("missing topics: \(deadLetters)") })
            try await kafka.createTopic(deadLetters, partitions: 1)
            let ready = try await eventually(timeout: .seconds(60)) { try await Self.get("\(base)/health/ready").status == 200 }
            #expect(ready)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        try await withClient(database) { client in try await dropSchema(schema, client: client) }
    }
}
