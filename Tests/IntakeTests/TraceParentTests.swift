import Access
import RdKafkaTestKit
import ComplaintEvents
import ComplaintPipeline
import ComplaintTesting
import Foundation
@testable import Intake
import NIOCore
import NIOHTTP1
import RdKafka
import Testing

/// An invalid `traceparent` header is ignored (W3C Trace Context), never a reason to refuse the request:
/// it made every submission and staff action fail with a bare 500, the complaint never registered.
@Suite("traceparent at the HTTP edge and on the Kafka door", .timeLimit(.minutes(3)))
struct TraceParentTests {
    static let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    static let upperCase = "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01"

    @Test("parsing", arguments: [
        (valid, valid),
        (upperCase, nil),
        ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", nil),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", nil),
        ("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", nil),
        (valid + "-extra", nil),
        ("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes-later", valid),
        ("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", valid),
        ("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x", nil),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", nil),
        ("", nil),
        ("00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01", nil),
    ] as [(String, String?)])
    func parsing(header: String, expected: String?) {
        #expect(TraceParent.parse(header) == expected)
    }

    @Test("an upper-case traceparent is ignored: the complaint registers (201) and an action applies, their events without it; a valid one travels on")
    func invalidHeaderIgnored() async throws {
        try await IntakeHarness.run { harness in
            let staff = try await harness.key(.staff)
            let externalID = "TP-\(UUID().uuidString.prefix(8))"
            let created = try await harness.request(
                .POST, "/v1/complaints", key: harness.admin, body: IntakeHarness.submission(externalID: externalID),
                headers: [("traceparent", Self.upperCase)])
            #expect(created.status == 201, "\(created.body)")
            let id = try #require(created.json["id"] as? String)
            let acknowledged = try await harness.request(
                .POST, "/v1/complaints/\(id)/acknowledge", key: staff, headers: [("traceparent", Self.upperCase)])
            #expect(acknowledged.status == 200, "\(acknowledged.body)")
            let noted = try await harness.request(
                .POST, "/v1/complaints/\(id)/notes", key: staff, body: #"{"text":"已联系工程部","visibility":"internal"}"#,
                headers: [("traceparent", Self.valid)])
            #expect(noted.status == 200, "\(noted.body)")

            let received = try await harness.consume(harness.topics.received.name, count: 1)
            let event = try harness.topics.received.decode(Array(received[0].value.readableBytesView))
            #expect(event.data.externalID == externalID)
            #expect(event.traceParent == nil)
            let updated = try await harness.consume(harness.topics.updated.name, count: 2).map {
                try harness.topics.updated.decode(Array($0.value.readableBytesView))
            }
            #expect(updated.map(\.data.kind) == [.acknowledged, .noteAdded])
            #expect(updated.map(\.traceParent) == [nil, Self.valid])
        }
    }

    /// The Kafka door has the contract's validation: the envelope's `traceparent` is checked like every
    /// attribute, and an event with an invalid one is dead-lettered with the reason.
    @Test("a submitted event with an invalid traceparent is dead-lettered with the reason")
    func kafkaDoor() async throws {
        try await IntakeHarness.run { harness in
            var event = try EventFixtures.example("complaint-submitted.v1.zh.json", on: Topics.submitted)
            let externalID = "tp-\(UUID().uuidString.prefix(8).lowercased())"
            event.data.externalID = externalID
            event.traceParent = nil
            var text = String(decoding: try harness.topics.submitted.encode(event), as: UTF8.self)
            let brace = try #require(text.firstIndex(of: "{"))
            text.insert(contentsOf: #""traceparent":"\#(Self.upperCase)","#, at: text.index(after: brace))
            let producer = try KafkaProducer(configuration: harness.kafka.producerConfiguration(), logger: harness.kafka.logger)
            try await withRunningServices([producer]) {
                _ = try await producer.sendAndAwait(KafkaProducerMessage(
                    topic: harness.topics.submitted.name, key: ByteBuffer(string: externalID), value: ByteBuffer(string: text)))
            }
            let letters = try await harness.consume(harness.topics.deadLetter.name, count: 1)
            let letter = try harness.topics.deadLetter.decode(Array(letters[0].value.readableBytesView))
            #expect(letter.data.reason.hasPrefix("traceparent:"), "\(letter.data.reason)")
            // The dead letter does not carry the invalid value on as its own trace.
            #expect(letter.traceParent == nil)
            #expect(try await harness.complaintCount(externalID: externalID) == 0)
        }
    }
}
