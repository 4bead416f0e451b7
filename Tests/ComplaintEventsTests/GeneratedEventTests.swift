import Foundation
import Testing

@testable import ComplaintEvents

/// Property tests over many random valid events per topic (seeded, so failures replay).
@Suite struct GeneratedEventTests {
    static let eventsPerTopic = 200

    /// decode(encode(event)) == event, and encode(decode(bytes)) == bytes (the encoding is canonical).
    @Test(arguments: TopicCase.all)
    func generatedEventsRoundTrip(_ topicCase: TopicCase) throws {
        var generator = EventGenerator(seed: topicCase.topic.name.utf8.reduce(0x5EED) { $0 &* 31 &+ UInt64($1) })
        for index in 0..<Self.eventsPerTopic {
            let (equal, encoded) = try topicCase.generate(&generator)
            #expect(equal, "event \(index) changed through encode → decode")
            let (decodedEqual, reencoded) = try topicCase.roundTrip(encoded)
            #expect(decodedEqual, "event \(index) changed through decode → encode → decode")
            #expect(reencoded == encoded, "event \(index) re-encoded differently")
        }
    }

    /// What Swift encodes validates against the JSON Schemas with Python `jsonschema`.
    @Test func generatedEventsValidateAgainstTheSchemas() async throws {
        let directory = try Fixtures.temporaryDirectory("generated")
        defer { try? FileManager.default.removeItem(at: directory) }
        var generator = EventGenerator(seed: 20_250_312)
        var written = 0
        for topicCase in TopicCase.all {
            let schema = try #require(EventSchemaInfo.all.first { $0.topicName == topicCase.topic.name })
            for index in 0..<Self.eventsPerTopic {
                let (_, encoded) = try topicCase.generate(&generator)
                try Data(encoded).write(to: directory.appendingPathComponent("\(schema.name).g\(index).json"))
                written += 1
            }
        }
        let results = try await SchemaValidator.validate([directory])
        #expect(results.count == written + 1)
        let invalid = results.filter { !$0.valid }
        for result in invalid.prefix(20) {
            Issue.record("\(result.file): \(result.errors.map { "\($0.path): \($0.message)" }.joined(separator: "; "))")
        }
        #expect(invalid.isEmpty, "\(invalid.count) of \(written) generated events are invalid")
    }
}
