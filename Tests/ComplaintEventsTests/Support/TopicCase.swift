import Foundation
import Testing

@testable import ComplaintEvents

/// One topic with typed operations, so table-driven tests can run over all topics.
struct TopicCase: Sendable, CustomTestStringConvertible {
    let topic: AnyTopic
    /// Decodes bytes, re-encodes and decodes again: whether both values are equal, and the re-encoded bytes.
    let roundTrip: @Sendable ([UInt8]) throws -> (equal: Bool, reencoded: [UInt8])
    /// A random valid event: whether decode(encode(event)) == event, and the encoded bytes.
    let generate: @Sendable (inout EventGenerator) throws -> (equal: Bool, encoded: [UInt8])

    var testDescription: String { topic.name }

    static func make<Payload>(
        _ topic: Topic<Payload>, _ payload: @escaping @Sendable (inout EventGenerator) -> Payload
    ) -> TopicCase {
        TopicCase(
            topic: topic.erased,
            roundTrip: { bytes in
                let first = try topic.decode(bytes)
                let reencoded = try topic.encode(first)
                return (try topic.decode(reencoded) == first, reencoded)
            },
            generate: { generator in
                let event = generator.envelope(payload(&generator))
                let encoded = try topic.encode(event)
                return (try topic.decode(encoded) == event, encoded)
            })
    }

    static let all: [TopicCase] = [
        make(Topics.submitted) { $0.submitted() },
        make(Topics.received) { $0.received() },
        make(Topics.classified) { $0.classified() },
        make(Topics.assigned) { $0.assigned() },
        make(Topics.updated) { $0.updated() },
        make(Topics.sla) { $0.sla() },
        make(Topics.notifications) { $0.notification() },
        make(Topics.alerts) { $0.alert() },
        make(Topics.deadLetter) { $0.deadLetter() },
    ]

    static func named(_ topicName: String) -> TopicCase? { all.first { $0.topic.name == topicName } }
}

/// What an event schema file declares about itself.
struct EventSchemaInfo: Sendable {
    let name: String
    let topicName: String
    let eventType: String

    static let all: [EventSchemaInfo] = Fixtures.eventSchemaFiles.map { file in
        let schema = try! Fixtures.json(file)
        guard case .string(let topic)? = schema["x-redress-topic"],
              case .string(let type)? = schema["properties"]?["type"]?["const"]
        else { fatalError("\(file.lastPathComponent) lacks x-redress-topic or a type const") }
        return EventSchemaInfo(
            name: String(file.lastPathComponent.dropLast(".schema.json".count)), topicName: topic, eventType: type)
    }

    static func named(_ name: String) -> EventSchemaInfo? { all.first { $0.name == name } }
}
