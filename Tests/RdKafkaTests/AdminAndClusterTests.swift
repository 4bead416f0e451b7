import Foundation
import Logging
import RdKafka
import RdKafkaTestKit
import Testing

@Suite("Admin client and embedded cluster", .timeLimit(.minutes(2)))
struct AdminAndClusterTests {
    /// librdkafka 2.0's mock cluster reports no controller, so CreateTopics needs a real Kafka
    /// (`KAFKA_BROKERS`); the embedded cluster creates topics through ``EmbeddedKafkaCluster/createTopic(_:partitions:replicationFactor:)``.
    @Test("creating topics is idempotent: the second call creates nothing and does not fail",
          .enabled(if: KafkaTestEnvironment.usesExternalKafka, "the embedded cluster has no controller for CreateTopics"))
    func createTopicsTwice() async throws {
        let kafka = try KafkaTestEnvironment()
        let admin = try KafkaAdminClient(bootstrapServers: kafka.bootstrapServers, logger: kafka.logger)
        let name = "admin-\(UInt64.random(in: 0 ... .max))"
        let specification = KafkaTopicSpecification(name: name, partitions: 3)
        let created = try await admin.createTopics([specification])
        #expect(created == [name])
        let again = try await admin.createTopics([specification])
        #expect(again.isEmpty)

        // The topic really has three partitions: keys spread over them.
        let producer = try KafkaProducer(configuration: kafka.producerConfiguration(), logger: kafka.logger)
        let partitions = try await withRunningServices([producer]) {
            var partitions = Set<KafkaPartition>()
            for index in 0..<60 {
                let report = try await producer.sendAndAwait(KafkaProducerMessage(topic: name, key: "key-\(index)", value: "x"))
                if case .acknowledged(let partition, _) = report.status { partitions.insert(partition) }
            }
            return partitions
        }
        #expect(partitions == [KafkaPartition(rawValue: 0), KafkaPartition(rawValue: 1), KafkaPartition(rawValue: 2)])
    }

    @Test("offsets committed for a group that never joined are where it starts; offsets by time are found on a real Kafka, left out on the mock")
    func commitAndOffsetsByTime() async throws {
        let kafka = try KafkaTestEnvironment()
        let topic = try await kafka.makeTopic(prefix: "offsets", partitions: 1)
        let producer = try KafkaProducer(configuration: kafka.producerConfiguration(), logger: kafka.logger)
        let admin = try KafkaAdminClient(bootstrapServers: kafka.bootstrapServers, logger: kafka.logger)
        let middle = try await withRunningServices([producer]) {
            for index in 0..<3 { _ = try await producer.sendAndAwait(KafkaProducerMessage(topic: topic, key: "k", value: "early-\(index)")) }
            // Message timestamps have millisecond resolution: step past the early ones' millisecond.
            try await Task.sleep(for: .milliseconds(2))
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            try await Task.sleep(for: .milliseconds(2))
            for index in 0..<2 { _ = try await producer.sendAndAwait(KafkaProducerMessage(topic: topic, key: "k", value: "late-\(index)")) }
            return now
        }
        let found = try await admin.offsets(atMillisecondsSince1970: middle, on: [topic])
        if KafkaTestEnvironment.usesExternalKafka {
            #expect(found[topic]?[0] == 3)
        } else {
            #expect(found[topic]?[0] == nil, "librdkafka 2.0's mock cluster cannot look offsets up by time")
        }

        let group = "committed-\(UInt64.random(in: 0 ... .max))"
        try await admin.commit([topic: [0: 3]], for: group)
        #expect(try await admin.progress(of: group, on: [topic]).partitions.first?.committed == 3)
        // A member of that group starts there.
        let consumer = try KafkaConsumer(configuration: kafka.consumerConfiguration(groupID: group, topics: [topic]), logger: kafka.logger)
        let read = try await withRunningServices([consumer]) { try await consumer.collect(2) }
        #expect(read.map(\.valueString) == ["late-0", "late-1"])
    }

    @Test("an invalid topic specification is refused locally with the topic named")
    func invalidTopic() async throws {
        let kafka = try KafkaTestEnvironment()
        let admin = try KafkaAdminClient(bootstrapServers: kafka.bootstrapServers, logger: kafka.logger)
        await #expect {
            try await admin.createTopics([KafkaTopicSpecification(name: "bad-partitions", partitions: -5)])
        } throws: { error in
            guard let error = error as? KafkaError else { return false }
            return error.code == .admin && error.reason.contains("bad-partitions")
        }
    }

    @Test("embedded cluster topics are created idempotently", .enabled(if: !KafkaTestEnvironment.usesExternalKafka))
    func embeddedCreateTopicTwice() throws {
        let cluster = try EmbeddedKafkaCluster(logger: .kafkaTest)
        try cluster.createTopic("twice", partitions: 2)
        #expect(throws: KafkaError.self) { try cluster.createTopic("twice", partitions: 2) }
        try cluster.ensureTopics([KafkaTopicSpecification(name: "twice", partitions: 2), KafkaTopicSpecification(name: "new", partitions: 4)])
    }

    @Test("the embedded cluster listens on loopback only", .enabled(if: !KafkaTestEnvironment.usesExternalKafka))
    func loopbackOnly() throws {
        let cluster = try EmbeddedKafkaCluster(brokers: 3, logger: .kafkaTest)
        let servers = KafkaBootstrap.servers(from: cluster.bootstrapServers)
        #expect(servers.count == 3)
        for server in servers {
            #expect(server.hasPrefix("127.0.0.1:") || server.hasPrefix("localhost:"), "\(server)")
        }
    }
}
