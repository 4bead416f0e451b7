import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import Logging
import NIOCore
import PostgresNIO
import RdKafka
import RdKafkaTestKit
import ServiceLifecycle
import Synchronization

/// Applies complaint-received events by recording them in `<schema>.effects` and announcing each
/// as classified: a stage with a visible effect and an output, to count what happened how often.
struct RecordingHandler: EventHandler {
    let outputTopic: Topic<ComplaintClassified>
    /// Runs first in every attempt (inside the transaction), e.g. to inject a failure.
    var beforeApplying: @Sendable (EventEnvelope<ComplaintReceived>, HandlerContext) async throws -> Void = { _, _ in }
    /// The answer to ``EventHandler/takesHotelLock(_:)``.
    var takesLock: @Sendable (EventEnvelope<ComplaintReceived>) -> Bool = { _ in true }

    func takesHotelLock(_ event: EventEnvelope<ComplaintReceived>) -> Bool { takesLock(event) }

    func handle(_ event: EventEnvelope<ComplaintReceived>, context: HandlerContext) async throws -> [OutgoingEvent] {
        try await beforeApplying(event, context)
        try await context.connection.query(
            // Named plainly: the pipeline's transaction has the stage's schema on its search_path.
            "INSERT INTO effects (event_id, complaint_id, attempt) VALUES (\(event.id), \(event.data.complaintID), \(context.attempt))",
            logger: context.logger
        )
        let classified = try EventFixtures.classified(complaintID: event.data.complaintID)
        return [try OutgoingEvent(classified, on: outputTopic)]
    }
}

/// One test's world: an embedded (or external) Kafka with topics of its own, and a fresh schema
/// with the runtime tables plus an `effects` table.
struct PipelineWorld: Sendable {
    let kafka: KafkaTestEnvironment
    let client: PostgresClient
    let tables: RuntimeTables
    let input: Topic<ComplaintReceived>
    let output: Topic<ComplaintClassified>
    let deadLetterTopic: String
    let groupID: String

    static func with<Result: Sendable>(_ body: (PipelineWorld) async throws -> Result) async throws -> Result {
        let kafka = try KafkaTestEnvironment()
        let input = Topics.received.renamed(try await kafka.makeTopic(prefix: "received", partitions: 2))
        let output = Topics.classified.renamed(try await kafka.makeTopic(prefix: "classified", partitions: 2))
        let deadLetterTopic = try await kafka.makeTopic(prefix: "deadletter", partitions: 1)
        return try await withRuntimeTables { client, tables in
            try await client.query(
                PostgresQuery(unsafeSQL: "CREATE TABLE \(tables.schema).effects (event_id uuid NOT NULL, complaint_id uuid NOT NULL, attempt int NOT NULL)"),
                logger: .complaintTest)
            let world = PipelineWorld(
                kafka: kafka, client: client, tables: tables, input: input, output: output,
                deadLetterTopic: deadLetterTopic, groupID: "pipeline-\(UUID().uuidString.lowercased())")
            return try await body(world)
        }
    }

    var handler: RecordingHandler {
        RecordingHandler(outputTopic: output)
    }

    var configuration: PipelineConfiguration {
        var configuration = PipelineConfiguration(serviceName: "pipeline-test", schema: tables.schema)
        configuration.retry.initialDelay = .milliseconds(20)
        configuration.retry.maximumDelay = .milliseconds(200)
        return configuration
    }

    /// The services of one stage process: producer, consumer and the pipeline itself.
    func stage(
        _ handler: RecordingHandler,
        crashPoints: EventPipelineService.CrashPoints = .init(),
        sharesTransactions: Bool = true,
        configure: (inout PipelineConfiguration) -> Void = { _ in }
    ) throws -> (producer: KafkaProducer, consumer: KafkaConsumer, pipeline: EventPipelineService) {
        var configuration = self.configuration
        configure(&configuration)
        let producer = try KafkaProducer(configuration: kafka.producerConfiguration(clientID: "pipeline-test-producer"), logger: kafka.logger)
        var consumerConfiguration = kafka.consumerConfiguration(groupID: groupID, topics: [input.name])
        consumerConfiguration.isRevocationHandled = true
        let consumer = try KafkaConsumer(configuration: consumerConfiguration, logger: kafka.logger)
        let deadLetters = DeadLetterPublisher(producer: producer, serviceName: "pipeline-test", topic: deadLetterTopic, logger: kafka.logger)
        let pipeline = EventPipelineService(
            inputs: [sharesTransactions ? StageInput(input, handler) : StageInput(input, handler).oneEventPerTransaction()], consumer: consumer, client: client, deadLetters: deadLetters,
            configuration: configuration, crashPoints: crashPoints, logger: kafka.logger)
        return (producer, consumer, pipeline)
    }

    /// The services of a stage whose one input is `input` (on the world's input topic).
    func stage(
        input: StageInput, crashPoints: EventPipelineService.CrashPoints = .init(), kafkaProperties: [String: String] = [:],
        configure: (inout PipelineConfiguration) -> Void = { _ in }
    ) throws -> (producer: KafkaProducer, consumer: KafkaConsumer, pipeline: EventPipelineService) {
        var configuration = self.configuration
        configure(&configuration)
        let producer = try KafkaProducer(configuration: kafka.producerConfiguration(clientID: "pipeline-test-producer"), logger: kafka.logger)
        var consumerConfiguration = kafka.consumerConfiguration(groupID: groupID, topics: [self.input.name])
        consumerConfiguration.isRevocationHandled = true
        consumerConfiguration.additionalProperties.merge(kafkaProperties) { _, given in given }
        let consumer = try KafkaConsumer(configuration: consumerConfiguration, logger: kafka.logger)
        let deadLetters = DeadLetterPublisher(producer: producer, serviceName: "pipeline-test", topic: deadLetterTopic, logger: kafka.logger)
        let pipeline = EventPipelineService(
            inputs: [input], consumer: consumer, client: client, deadLetters: deadLetters, configuration: configuration,
            crashPoints: crashPoints, logger: kafka.logger)
        return (producer, consumer, pipeline)
    }

    /// Publishes raw values to the input topic, acknowledged.
    func publish(_ values: [(key: String, value: [UInt8])]) async throws {
        let producer = try KafkaProducer(configuration: kafka.producerConfiguration(clientID: "pipeline-test-source"), logger: kafka.logger)
        try await withRunningServices([producer]) {
            for (key, value) in values {
                _ = try await producer.sendAndAwait(KafkaProducerMessage(topic: input.name, key: ByteBuffer(string: key), value: ByteBuffer(bytes: value)))
            }
        }
    }

    /// Publishes events to one partition of the input topic, in order.
    func publish(_ events: [EventEnvelope<ComplaintReceived>], partition: Int32) async throws {
        let producer = try KafkaProducer(configuration: kafka.producerConfiguration(clientID: "pipeline-test-source"), logger: kafka.logger)
        try await withRunningServices([producer]) {
            for event in events {
                _ = try await producer.sendAndAwait(KafkaProducerMessage(
                    topic: input.name, key: ByteBuffer(string: event.data.complaintID.uuidString.lowercased()),
                    value: ByteBuffer(bytes: try input.encode(event)), partition: KafkaPartition(rawValue: partition)))
            }
        }
    }

    /// Publishes events to the input topic.
    func publish(_ events: [EventEnvelope<ComplaintReceived>]) async throws {
        try await publish(try events.map { (key: $0.data.complaintID.uuidString.lowercased(), value: try input.encode($0)) })
    }

    func count(_ sql: String) async throws -> Int {
        let rows = try await client.query(PostgresQuery(unsafeSQL: sql), logger: .complaintTest).collect()
        return try rows[0].decode(Int.self)
    }

    func effects(of eventID: UUID) async throws -> Int {
        try await count("SELECT count(*)::int FROM \(tables.schema).effects WHERE event_id = '\(eventID.uuidString.lowercased())'")
    }

    var processedCount: Int {
        get async throws { try await count("SELECT count(*)::int FROM \(tables.schema).processed_events") }
    }

    var outboxCount: Int {
        get async throws { try await count("SELECT count(*)::int FROM \(tables.schema).outbox") }
    }

    var unsentCount: Int {
        get async throws { try await count("SELECT count(*)::int FROM \(tables.schema).outbox WHERE sent_at IS NULL") }
    }

    /// Reads `count` messages of `topic` with a fresh group.
    func read(_ count: Int, from topic: String, timeout: Duration = .seconds(90)) async throws -> [KafkaConsumerMessage] {
        let consumer = try KafkaConsumer(configuration: kafka.consumerConfiguration(topics: [topic]), logger: kafka.logger)
        return try await withRunningServices([consumer]) { try await consumer.collect(count, timeout: timeout) }
    }
}

/// Runs services until one of them throws (a simulated crash), and returns that error.
func runUntilFailure(_ services: [any Service], logger: Logger) async -> (any Error)? {
    let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [], logger: logger))
    do {
        try await group.run()
        return nil
    } catch {
        return error
    }
}

/// A thread-safe counter for handler hooks.
final class Attempts: Sendable {
    private let value = Mutex(0)
    func next() -> Int { value.withLock { $0 += 1; return $0 } }
    var count: Int { value.withLock { $0 } }
}

/// Outcomes the pipeline reported, in order.
final class LockedOutcomes: Sendable {
    private let value = Mutex<[MessageOutcome]>([])
    func append(_ outcome: MessageOutcome) { value.withLock { $0.append(outcome) } }
    var all: [MessageOutcome] { value.withLock { $0 } }
}
