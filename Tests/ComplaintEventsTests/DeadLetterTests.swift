import Foundation
import Testing

@testable import ComplaintEvents

/// Bad input never disappears: it becomes a dead-letter event with the original bytes and a precise reason.
@Suite struct DeadLetterTests {
    @Test func invalidEventBecomesADeadLetterThatNamesTheFault() throws {
        let original = Array(InvalidInputTests.submitted.replacingOccurrences(
            of: #""roomNumber":"1208""#, with: #""roomNumber":"East wing room 1208""#).utf8)
        var reason = ""
        do { _ = try Topics.submitted.decode(original) } catch { reason = error.description }
        #expect(reason == "data.guest.roomNumber: longer than 16 characters")

        let record = DeadLetterRecord(
            reason: reason, sourceTopic: Topics.submitted.name, partition: 3, offset: 18_244, service: "redress-intake",
            attempts: 1, failedAt: Date(timeIntervalSince1970: 1_741_770_000), originalKey: Array("wx-417".utf8),
            originalValue: original,
            originalHeaders: [("traceparent", Array("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".utf8)), ("empty", nil)])
        let event = EventEnvelope(deadLetter: record, time: record.failedAt)
        #expect(event.hotelID == "SHA-PD01")
        #expect(event.traceParent == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        #expect(event.source == "/redress/redress-intake")
        #expect(Topics.deadLetter.key(for: event) == Array("wx-417".utf8))

        let decoded = try Topics.deadLetter.decode(try Topics.deadLetter.encode(event))
        #expect(decoded == event)
        #expect(decoded.data.originalValue.map { [UInt8]($0) } == original)
        #expect(!decoded.data.isValueTruncated)
        #expect(DeadLetterHeaders.headers(for: record).map(\.name) == [
            "redress-dlq-reason", "redress-dlq-source-topic", "redress-dlq-source-partition", "redress-dlq-source-offset",
            "redress-dlq-service", "redress-dlq-attempts",
        ])
        #expect(DeadLetterHeaders.headers(for: record).map(\.value) == [
            reason, "complaints.submitted.v1", "3", "18244", "redress-intake", "1",
        ])
    }

    /// Dead letters had random ids: a message dead-lettered again after a restart (its offset not yet
    /// stored) was two unrelated events on the topic.
    @Test func theSameOriginalGivesTheSameDeadLetterID() {
        func record(offset: Int64, service: String = "redress-classifier", failedAt: TimeInterval) -> DeadLetterRecord {
            DeadLetterRecord(
                reason: "data.text: empty", sourceTopic: Topics.received.name, partition: 2, offset: offset, service: service,
                attempts: 1, failedAt: Date(timeIntervalSince1970: failedAt), originalKey: nil, originalValue: Array("{}".utf8),
                originalHeaders: [])
        }
        let first = EventEnvelope(deadLetter: record(offset: 7, failedAt: 1_741_770_000), time: Date(timeIntervalSince1970: 1_741_770_000))
        let again = EventEnvelope(deadLetter: record(offset: 7, failedAt: 1_741_770_090), time: Date(timeIntervalSince1970: 1_741_770_090))
        #expect(first.id == again.id)
        #expect(first.id.uuidString.dropFirst(14).first == "5")  // the name-based layout
        #expect(EventEnvelope(deadLetter: record(offset: 8, failedAt: 0), time: Date()).id != first.id)
        #expect(EventEnvelope(deadLetter: record(offset: 7, service: "redress-metrics", failedAt: 0), time: Date()).id != first.id)
    }

    @Test func garbageWithoutHotelIsFiledUnderUnknown() throws {
        let record = DeadLetterRecord(
            reason: "malformed JSON at byte 0: unexpected character 'x'", sourceTopic: "complaints.received.v1", partition: 0,
            offset: 0, service: "redress-classifier", attempts: 1, failedAt: Date(timeIntervalSince1970: 0), originalKey: nil,
            originalValue: Array("xyz".utf8), originalHeaders: [])
        let event = EventEnvelope(deadLetter: record, time: record.failedAt)
        #expect(event.hotelID == DeadLetterRecord.unknownHotelID)
        #expect(event.traceParent == nil)
        #expect(Topics.deadLetter.key(for: event) == nil)
        #expect(try Topics.deadLetter.decode(try Topics.deadLetter.encode(event)) == event)
    }

    /// Oversized originals are cut so the dead letter itself stays under the event size limit.
    @Test func oversizedOriginalsAreCutToFit() throws {
        let huge = [UInt8](repeating: UInt8(ascii: "a"), count: EventCoding.maximumEventSize)
        let record = DeadLetterRecord(
            reason: String(repeating: "原因", count: 2000), sourceTopic: "complaints.updated.v1", partition: 11,
            offset: Int64.max, service: "redress-sla-watcher", attempts: 1000, failedAt: Date(timeIntervalSince1970: 1),
            originalKey: [UInt8](repeating: 1, count: 10_000), originalValue: huge,
            originalHeaders: (0..<100).map { ("h\($0)", [UInt8](repeating: 2, count: 5000)) })
        #expect(record.originalValue?.count == 524_288)
        #expect(record.originalValueSize == huge.count)
        #expect(record.isValueTruncated)
        #expect(record.originalKey?.count == 4096)
        #expect(record.originalHeaders.count == 64)
        #expect(record.originalHeaders.allSatisfy { $0.value?.count == 1024 })
        #expect(record.reason.unicodeScalars.count == 2000)
        let event = EventEnvelope(deadLetter: record, time: record.failedAt)
        let bytes = try Topics.deadLetter.encode(event)
        #expect(bytes.count < EventCoding.maximumEventSize)
        #expect(try Topics.deadLetter.decode(bytes) == event)
        #expect(event.hotelID == DeadLetterRecord.unknownHotelID, "a cut original is not parsed")
    }

    /// The refusal of `{"\u0000":1,"\u0000":2}` quotes the NUL it met, and a header key is anyone's
    /// bytes: the dead letter replaces NUL (no event text may hold it) instead of failing to encode —
    /// which trapped the consumer, and met the same message again after every restart.
    @Test func reasonsAndHeaderKeysQuotingNULStillEncode() throws {
        let original = Array(#"{"\u0000":1,"\u0000":2}"#.utf8)
        var reason = ""
        do { _ = try Topics.submitted.decode(original) } catch { reason = error.description }
        #expect(reason.unicodeScalars.contains("\0"), "the decoder quotes the property as it came")
        let record = DeadLetterRecord(
            reason: reason, sourceTopic: Topics.submitted.name, partition: 0, offset: 7, service: "redress-intake", attempts: 1,
            failedAt: Date(timeIntervalSince1970: 1), originalKey: nil, originalValue: original, originalHeaders: [("x\0y", nil)])
        #expect(!record.reason.unicodeScalars.contains("\0"))
        #expect(record.reason == reason.replacingOccurrences(of: "\0", with: "\u{FFFD}"))
        #expect(record.originalHeaders.map(\.key) == ["x\u{FFFD}y"])
        let event = EventEnvelope(deadLetter: record, time: record.failedAt)
        let decoded = try Topics.deadLetter.decode(try Topics.deadLetter.encode(event))
        #expect(decoded.data.originalValue.map { [UInt8]($0) } == original, "the original bytes are kept as they came")
    }
}

/// Keys keep every event of a complaint on one partition.
@Suite struct TopicKeyTests {
    @Test func keysFollowTheContract() throws {
        var generator = EventGenerator(seed: 3)
        let received = generator.envelope(generator.received())
        #expect(Topics.received.key(for: received) == Array(received.data.complaintID.uuidString.lowercased().utf8))
        #expect(received.subject == received.data.complaintID.uuidString.lowercased())
        let submitted = generator.envelope(generator.submitted())
        #expect(Topics.submitted.key(for: submitted) == Array(submitted.data.externalID.utf8))
        let alert = generator.envelope(generator.alert())
        #expect(Topics.alerts.key(for: alert) == Array(alert.data.hotelID.utf8))
        #expect(alert.subject == nil)
        let update = generator.envelope(generator.updated())
        #expect(Topics.updated.key(for: update) == Array(update.data.complaintID.uuidString.lowercased().utf8))
    }

    @Test func anyTopicValidatesAndPrettyPrints() throws {
        let file = Fixtures.examples.appendingPathComponent("complaint-sla.v1.escalated.json")
        let bytes = try Fixtures.bytes(file)
        let topic = try #require(Topics.named("complaints.sla.v1"))
        try topic.validate(bytes)
        let pretty = String(decoding: try topic.prettyPrinted(bytes), as: UTF8.self)
        #expect(pretty.contains("\n  \"data\": {\n    \"complaintId\": \"c1d2e3f4-5a6b-4c7d-8e9f-0a1b2c3d4e5f\","))
        #expect(throws: EventValidationError.self) { try Topics.named("complaints.received.v1")!.validate(bytes) }
    }
}
