import Foundation
import Testing

@testable import ComplaintEvents

/// The Swift registry, the JSON Schemas, the examples and the AsyncAPI document describe the same topics.
@Suite struct ContractTests {
    static let asyncAPI = (try? String(contentsOf: Fixtures.schemas.appendingPathComponent("asyncapi.yaml"), encoding: .utf8)) ?? ""
    static let readme = (try? String(contentsOf: Fixtures.schemas.appendingPathComponent("README.md"), encoding: .utf8)) ?? ""

    /// `address:` lines of the AsyncAPI channels.
    static var asyncAPIAddresses: Set<String> {
        Set(asyncAPI.split(separator: "\n").compactMap { line in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            return trimmed.hasPrefix("address: ") ? String(trimmed.dropFirst("address: ".count)) : nil
        })
    }

    @Test func everyTopicIsAnAsyncAPIChannelAndNoOtherIs() {
        #expect(Self.asyncAPIAddresses == Set(Topics.all.map(\.name)))
    }

    @Test func asyncAPIReferencesEverySchemaAndType() {
        for schema in EventSchemaInfo.all {
            #expect(Self.asyncAPI.contains("$ref: './events/\(schema.name).schema.json'"), "\(schema.name) missing")
            #expect(Self.asyncAPI.contains("name: \(schema.eventType)"), "\(schema.eventType) missing")
        }
    }

    @Test func topicsAreUniqueAndVersioned() {
        #expect(Set(Topics.all.map(\.name)).count == Topics.all.count)
        #expect(Set(Topics.all.map(\.eventType)).count == Topics.all.count)
        for topic in Topics.all {
            #expect(topic.name.hasSuffix(".v1") && topic.eventType.hasPrefix("redress.") && topic.eventType.hasSuffix(".v1"))
            #expect(Topics.named(topic.name)?.eventType == topic.eventType)
            #expect(Topics.carrying(eventType: topic.eventType)?.name == topic.name)
        }
    }

    /// Each event schema names its topic and type, and they are the registry's.
    @Test func eventSchemasMatchTheRegistry() {
        #expect(Set(EventSchemaInfo.all.map(\.topicName)) == Set(Topics.all.map(\.name)))
        for schema in EventSchemaInfo.all {
            #expect(Topics.named(schema.topicName)?.eventType == schema.eventType, "\(schema.name)")
        }
    }

    /// Each example's `type` belongs to a topic, the one its file name's schema names.
    @Test(arguments: Fixtures.exampleFiles)
    func exampleTypeMapsToATopic(_ file: URL) throws {
        guard case .string(let type)? = try Fixtures.json(file)["type"] else {
            Issue.record("no type")
            return
        }
        let topic = try #require(Topics.carrying(eventType: type))
        #expect(EventSchemaInfo.named(Fixtures.schemaName(of: file))?.topicName == topic.name)
    }

    /// Every `pattern` in the schemas is the regular expression of a pattern the Swift decoder
    /// enforces, so the two can only drift where the differential tests would notice.
    @Test func schemaPatternsAreTheSwiftPatterns() throws {
        let swift: Set<String> = Set([
            TextPattern.identifier, .code, .serviceName, .reference(maxLength: 64), .reference(maxLength: 128), .language,
            .traceParent, .guestKey, .currency, .phone, .email, .uriReference, .topicName, .attributeName, .base64, .uuid,
            .lowercaseUUID, .dateTime,
        ].map(\.regex))
        var found: Set<String> = []
        func collect(_ value: JSONValue) {
            switch value {
            case .object(let members):
                for member in members {
                    if member.key == "pattern", case .string(let pattern) = member.value { found.insert(pattern) }
                    collect(member.value)
                }
            case .array(let elements): elements.forEach(collect)
            default: break
            }
        }
        for file in Fixtures.eventSchemaFiles + [
            Fixtures.schemas.appendingPathComponent("envelope.v1.schema.json"),
            Fixtures.schemas.appendingPathComponent("common.v1.schema.json"),
        ] {
            collect(try Fixtures.json(file))
        }
        #expect(found.subtracting(swift).isEmpty, "patterns Swift does not know: \(found.subtracting(swift))")
        #expect(swift.subtracting(found).isEmpty, "Swift patterns no schema uses: \(swift.subtracting(found))")
    }

    @Test func readmeDocumentsTopicsHeadersAndDeadLetterHeaders() throws {
        for topic in Topics.all { #expect(Self.readme.contains(topic.name), "README lacks \(topic.name)") }
        for header in [DeadLetterHeaders.reason, DeadLetterHeaders.sourceTopic, DeadLetterHeaders.sourcePartition,
                       DeadLetterHeaders.sourceOffset, DeadLetterHeaders.service, DeadLetterHeaders.attempts] {
            #expect(Self.readme.contains(header), "README lacks \(header)")
            #expect(Self.asyncAPI.contains("\(header):"), "asyncapi.yaml lacks \(header)")
        }
        #expect(Self.readme.contains(EventHeaders.contentType))
    }
}
