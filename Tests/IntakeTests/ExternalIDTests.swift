import Access
import RdKafkaTestKit
import ComplaintEvents
import ComplaintPipeline
import ComplaintTesting
import Foundation
import Intake
import NIOCore
import NIOHTTP1
import PostgresNIO
import RdKafka
import Testing

/// hotel + source + externalId names one complaint: the same submission again is a replay, another
/// complaint under the same id is refused (it was answered 200 "existing" with the first one's id, and
/// silently dropped).
@Suite("Another complaint under a registered externalId", .timeLimit(.minutes(3)))
struct ExternalIDTests {
    @Test("HTTP: same content replays (200), other content is 409 naming externalId; a complaint without a fingerprint matches")
    func overHTTP() async throws {
        try await IntakeHarness.run { harness in
            let publisher = try await harness.key(.publisher, name: "opera-pms")
            let externalID = "OPR-\(UUID().uuidString.prefix(8))"
            let body = IntakeHarness.submission(externalID: externalID)
            let created = try await harness.request(.POST, "/v1/complaints", key: publisher, body: body)
            #expect(created.status == 201)
            let id = try #require(created.json["id"] as? String)
            // The same submission, spelled differently (spacing): a replay.
            let respelled = body.replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: #"":"#, with: #"": "#)
            let replay = try await harness.request(.POST, "/v1/complaints", key: publisher, body: respelled)
            #expect(replay.status == 200, "\(replay.body)")
            #expect(replay.json["id"] as? String == id)

            let other = IntakeHarness.submission(externalID: externalID, text: "浴室漏水，地面全是水。")
            let refused = try await harness.request(.POST, "/v1/complaints", key: publisher, body: other)
            #expect(refused.status == 409, "\(refused.body)")
            #expect(refused.headers["content-type"] == "application/problem+json")
            let errors = try #require(refused.json["errors"] as? [[String: String]])
            #expect(errors.first?["field"] == "externalId")
            #expect(errors.first?["rule"] == "externalId already registered with different content")
            #expect(refused.json["complaintId"] as? String == id)
            // With an Idempotency-Key too: refused, and the key is not taken by the refused request.
            let keyed = try await harness.request(.POST, "/v1/complaints", key: publisher, body: other, headers: [("Idempotency-Key", "ext-1")])
            #expect(keyed.status == 409)
            #expect(try await harness.complaintCount(externalID: externalID) == 1)

            // Registered before fingerprints were kept: taken as matching, answered as before.
            let table = "\(harness.schema).complaints"
            let complaintID = try #require(UUID(uuidString: id))
            try await harness.client.query(
                "UPDATE \(unescaped: table) SET submission_sha256 = NULL WHERE id = \(complaintID)", logger: .complaintTest)
            let legacy = try await harness.request(.POST, "/v1/complaints", key: publisher, body: other)
            #expect(legacy.status == 200, "\(legacy.body)")
            #expect(legacy.json["id"] as? String == id)
        }
    }

    @Test("Kafka: the same submission again registers nothing; other content is dead-lettered with the reason")
    func overKafka() async throws {
        try await IntakeHarness.run { harness in
            var event = try EventFixtures.example("complaint-submitted.v1.zh.json", on: Topics.submitted)
            let externalID = "wx-\(UUID().uuidString.prefix(8).lowercased())"
            event.data.externalID = externalID
            var redelivered = event
            redelivered.id = UUID()
            var other = event
            other.id = UUID()
            other.data.text = "浴室漏水，地面全是水。"
            let producer = try KafkaProducer(configuration: harness.kafka.producerConfiguration(), logger: harness.kafka.logger)
            try await withRunningServices([producer]) {
                for value in [event, redelivered, other] {
                    _ = try await producer.sendAndAwait(KafkaProducerMessage(
                        topic: harness.topics.submitted.name, key: ByteBuffer(string: externalID),
                        value: ByteBuffer(bytes: try harness.topics.submitted.encode(value))))
                }
            }
            let letters = try await harness.consume(harness.topics.deadLetter.name, count: 1)
            let letter = try harness.topics.deadLetter.decode(Array(letters[0].value.readableBytesView))
            #expect(letter.data.reason.hasPrefix("externalId already registered with different content"), "\(letter.data.reason)")
            #expect(try await harness.complaintCount(externalID: externalID) == 1)
            let received = try await harness.consume(harness.topics.received.name, count: 1)
            #expect(try harness.topics.received.decode(Array(received[0].value.readableBytesView)).data.text == event.data.text)
        }
    }
}
