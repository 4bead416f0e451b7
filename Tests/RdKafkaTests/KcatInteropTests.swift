import ComplaintTesting
import EmbeddedDefault
import Foundation
import Logging
import RdKafka
import RdKafkaTestKit
import Testing

/// kcat is a Kafka client nobody here wrote: if it and our wrapper agree, the wire format is right.
@Suite("kcat interoperability", .timeLimit(.minutes(2)), .enabled(if: Kcat.path != nil, "kcat is not installed"))
struct KcatInteropTests {
    @Test("kcat produces, our consumer reads key, value and headers")
    func kcatToWrapper() async throws {
        let kafka = try KafkaTestEnvironment()
        let topic = try await kafka.makeTopic(partitions: 1)
        let input = (0..<20).map { "key-\($0)\tvalue 投诉 \($0)" }.joined(separator: "\n") + "\n"
        let result = try await Kcat.run(["-b", kafka.bootstrapServers.joined(separator: ","), "-P", "-t", topic, "-K", "\t", "-H", "source=kcat"], input: input)
        #expect(result.status == 0, "\(result.standardError)")

        let consumer = try KafkaConsumer(configuration: kafka.consumerConfiguration(topics: [topic]), logger: kafka.logger)
        let received = try await withRunningServices([consumer]) { try await consumer.collect(20) }
        #expect(received.map(\.keyString) == (0..<20).map { "key-\($0)" })
        #expect(received.map(\.valueString) == (0..<20).map { "value 投诉 \($0)" })
        #expect(received.allSatisfy { $0.headers.first(named: "source") == "kcat" })
    }

    @Test("our producer produces, kcat reads key, value and headers")
    func wrapperToKcat() async throws {
        let kafka = try KafkaTestEnvironment()
        let topic = try await kafka.makeTopic(partitions: 1)
        let producer = try KafkaProducer(configuration: kafka.producerConfiguration(), logger: kafka.logger)
        try await withRunningServices([producer]) {
            for index in 0..<20 {
                _ = try await producer.sendAndAwait(KafkaProducerMessage(
                    topic: topic, key: "key-\(index)", value: "value \(index)", headers: [KafkaHeader(key: "hotelid", value: "H\(index)")]))
            }
        }
        let result = try await Kcat.run([
            "-b", kafka.bootstrapServers.joined(separator: ","), "-C", "-t", topic, "-o", "beginning", "-e", "-c", "20",
            "-f", "%k|%s|%h\n",
        ])
        #expect(result.status == 0, "\(result.standardError)")
        let lines = result.standardOutput.split(separator: "\n").map(String.init)
        #expect(lines == (0..<20).map { "key-\($0)|value \($0)|hotelid=H\($0)" })
    }

    @Test("kcat lists the embedded cluster's metadata", .enabled(if: !KafkaTestEnvironment.usesExternalKafka))
    func kcatMetadata() async throws {
        let kafka = try KafkaTestEnvironment(brokers: 3)
        let topic = try await kafka.makeTopic(partitions: 5)
        let result = try await Kcat.run(["-b", kafka.bootstrapServers.joined(separator: ","), "-L", "-t", topic])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("3 brokers"))
        #expect(result.standardOutput.contains("topic \"\(topic)\" with 5 partitions"))
    }
}

/// Runs the `kcat` executable (Debian package `kcat`).
enum Kcat {
    static let path: String? = ["/usr/bin/kcat", "/usr/local/bin/kcat", "/usr/bin/kafkacat"].first { FileManager.default.isExecutableFile(atPath: $0) }

    static func run(_ arguments: [String], input: String = "") async throws -> ProgramRun.Result {
        try await ProgramRun.run(try #require(path), arguments, input: input)
    }
}
