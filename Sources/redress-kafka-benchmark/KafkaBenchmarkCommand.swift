import ArgumentParser
import Foundation
import Logging
import NIOCore
import RdKafka
import ServiceLifecycle
import Subprocess
import SystemPackage

/// Measures the Swift wrapper's produce and consume throughput beside a plain C librdkafka program
/// (`rdkafka-perf`) on the same embedded cluster in the same run, and prints both and their ratio.
///
/// Both sides run the same protocol: warm-up (the consumer owns its partitions), then ROUNDS times
/// "produce N messages and wait for every acknowledgement, then consume those N". Rounds keep each
/// partition below the embedded cluster's ~5 MiB retention, and every round checks that all N arrived.
@main
struct KafkaBenchmarkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redress-kafka-benchmark",
        abstract: "Kafka wrapper throughput against plain C librdkafka, on the embedded cluster."
    )

    @Option(help: "Messages per round.") var messagesPerRound = 10_000
    @Option(help: "Rounds per measurement.") var rounds = 10
    @Option(help: "Message size in bytes.") var size = 1024
    @Option(help: "Partitions of each benchmark topic.") var partitions = 3
    @Option(help: "Brokers in the embedded cluster.") var brokers = 1
    @Option(help: "Measurements per implementation (C and Swift alternate; the best of each is compared).") var repeats = 2
    @Option(help: "Path of the rdkafka-perf C program (default: next to this executable).") var cProgram: String?
    @Flag(help: "Measure only the Swift wrapper (for profiling it).") var swiftOnly = false

    func run() async throws {
        var logger = Logger(label: "redress.benchmark.kafka")
        logger.logLevel = .warning
        let cluster = try EmbeddedKafkaCluster(brokers: brokers, logger: logger)
        let program = cProgram ?? Self.siblingExecutable("rdkafka-perf")
        let total = messagesPerRound * rounds
        print("Kafka wrapper benchmark: \(total) messages of \(size) B per measurement (\(rounds) rounds of \(messagesPerRound)), acks=all, idempotent, \(partitions) partitions, embedded cluster with \(brokers) broker(s)")

        var cResults: [Measurement] = []
        var swiftResults: [Measurement] = []
        for attempt in 1...repeats {
            if !swiftOnly {
                let cTopic = "bench-c-\(attempt)"
                try cluster.createTopic(cTopic, partitions: partitions)
                let c = try await runCProgram(program, bootstrap: cluster.bootstrapServers, topic: cTopic)
                cResults.append(c)
                print("  C      #\(attempt): \(c)")
            }

            let swiftTopic = "bench-swift-\(attempt)"
            try cluster.createTopic(swiftTopic, partitions: partitions)
            let swift = try await runSwift(bootstrap: cluster.bootstrapServers, topic: swiftTopic, logger: logger)
            swiftResults.append(swift)
            print("  Swift  #\(attempt): \(swift)")
        }
        guard !cResults.isEmpty else { return }
        let bestC = Measurement.best(cResults)
        let bestSwift = Measurement.best(swiftResults)
        print("")
        print("                 produce msg/s   consume msg/s")
        print("C librdkafka     \(Self.pad(bestC.produceRate))   \(Self.pad(bestC.consumeRate))")
        print("Swift wrapper    \(Self.pad(bestSwift.produceRate))   \(Self.pad(bestSwift.consumeRate))")
        print("Swift / C        \(Self.pad(bestSwift.produceRate / bestC.produceRate * 100, suffix: " %"))   \(Self.pad(bestSwift.consumeRate / bestC.consumeRate * 100, suffix: " %"))")
    }

    struct Measurement: CustomStringConvertible {
        var messages: Int
        var produceSeconds: Double
        var consumeSeconds: Double
        var produceRate: Double { Double(messages) / produceSeconds }
        var consumeRate: Double { Double(messages) / consumeSeconds }
        var description: String {
            "produce \(Int(produceRate)) msg/s (\(String(format: "%.1f", produceRate * 1024 / 1_048_576)) MiB/s), consume \(Int(consumeRate)) msg/s"
        }

        static func best(_ measurements: [Measurement]) -> Measurement {
            Measurement(
                messages: measurements[0].messages,
                produceSeconds: measurements.map(\.produceSeconds).min()!,
                consumeSeconds: measurements.map(\.consumeSeconds).min()!
            )
        }
    }

    struct BenchmarkError: Error, CustomStringConvertible {
        var description: String
    }

    // MARK: C side

    /// Runs the C program through swift-subprocess (not Foundation's `Process`, whose start can crash a process
    /// holding many descriptors), its standard error going to ours, and reads its RESULT line.
    func runCProgram(_ path: String, bootstrap: String, topic: String) async throws -> Measurement {
        let (status, text): (TerminationStatus, String)
        do {
            let run = try await Subprocess.run(
                .path(FilePath(path)), arguments: [bootstrap, topic, String(messagesPerRound), String(rounds), String(size)],
                output: .string(limit: 1 << 20), error: .fileDescriptor(.standardError, closeAfterSpawningProcess: false))
            (status, text) = (run.terminationStatus, run.standardOutput)
        } catch {
            throw BenchmarkError(description: "cannot run rdkafka-perf at \(path): \(error)")
        }
        guard status.isSuccess, let line = text.split(separator: "\n").first(where: { $0.hasPrefix("RESULT") }) else {
            throw BenchmarkError(description: "rdkafka-perf failed (\(status)): \(text)")
        }
        var fields: [String: String] = [:]
        for pair in line.split(separator: " ").dropFirst() {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
        }
        guard let messages = fields["messages"].flatMap(Int.init), messages == messagesPerRound * rounds,
              let produce = fields["produce_seconds"].flatMap(Double.init),
              let consume = fields["consume_seconds"].flatMap(Double.init) else {
            throw BenchmarkError(description: "unexpected rdkafka-perf output: \(line)")
        }
        return Measurement(messages: messages, produceSeconds: produce, consumeSeconds: consume)
    }

    // MARK: Swift side

    func runSwift(bootstrap: String, topic: String, logger: Logger) async throws -> Measurement {
        let servers = KafkaBootstrap.servers(from: bootstrap)
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: servers, clientID: "bench-producer"), logger: logger)
        var consumerConfiguration = KafkaConsumerConfiguration(bootstrapServers: servers, groupID: "bench-swift-\(topic)", topics: [topic])
        consumerConfiguration.isAutoCommitEnabled = false
        consumerConfiguration.additionalProperties = ["fetch.wait.max.ms": "10"]
        let consumer = try KafkaConsumer(configuration: consumerConfiguration, logger: logger)
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [producer, consumer], gracefulShutdownSignals: [], logger: logger))

        let value = ByteBuffer(bytes: (0..<size).map { UInt8(ascii: "a") + UInt8($0 % 26) })
        let perRound = messagesPerRound
        let rounds = self.rounds
        return try await withThrowingTaskGroup(of: Measurement?.self) { tasks in
            tasks.addTask {
                try await group.run()
                return nil
            }
            tasks.addTask {
                defer { Task { await group.triggerGracefulShutdown() } }
                let clock = ContinuousClock()
                var messages = consumer.messages.makeAsyncIterator()
                // Warm-up: the consumer owns its partitions before anything is timed.
                _ = try await producer.sendAndAwait(KafkaProducerMessage(topic: topic, key: ByteBuffer(string: "warm-up"), value: value))
                guard try await messages.next() != nil else { throw BenchmarkError(description: "warm-up message not received") }

                var produceTime = Duration.zero
                var consumeTime = Duration.zero
                var consumed = 0
                var checksum: UInt = 0
                for round in 0..<rounds {
                    let failuresBefore = producer.failedMessageCount
                    produceTime += try await clock.measure {
                        for index in 0..<perRound {
                            let message = KafkaProducerMessage(topic: topic, key: ByteBuffer(string: "key-\(index)"), value: value)
                            while true {
                                do {
                                    try producer.send(message)
                                    break
                                } catch let error as KafkaError where error.code == .queueFull {
                                    try await Task.sleep(for: .microseconds(500))
                                }
                            }
                        }
                        try await producer.flush(timeout: .seconds(120))
                    }
                    guard producer.failedMessageCount == failuresBefore else {
                        throw BenchmarkError(description: "round \(round): \(producer.failedMessageCount - failuresBefore) delivery failures")
                    }
                    var received = 0
                    consumeTime += try await clock.measure {
                        // Touch the value, as the C program touches its copy.
                        while received < perRound, let message = try await messages.next() {
                            checksum &+= UInt(message.value.getInteger(at: message.value.readerIndex + message.value.readableBytes - 1, as: UInt8.self) ?? 0)
                            received += 1
                        }
                    }
                    guard received == perRound else {
                        throw BenchmarkError(description: "round \(round): consumed \(received) of \(perRound)")
                    }
                    consumed += received
                }
                // The same bytes were read as by the C program (warm-up message excluded on both sides).
                precondition(checksum > 0)
                return Measurement(messages: consumed, produceSeconds: produceTime.seconds, consumeSeconds: consumeTime.seconds)
            }
            var result: Measurement?
            for try await measurement in tasks where measurement != nil { result = measurement }
            guard let result else { throw BenchmarkError(description: "no measurement") }
            return result
        }
    }

    // MARK: Helpers

    static func siblingExecutable(_ name: String) -> String {
        let own = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: own).deletingLastPathComponent().appendingPathComponent(name).path
    }

    static func pad(_ value: Double, suffix: String = "") -> String {
        let text = (suffix.isEmpty ? String(Int(value.rounded())) : String(format: "%.1f", value)) + suffix
        return String(repeating: " ", count: max(0, 13 - text.count)) + text
    }
}

extension Duration {
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
