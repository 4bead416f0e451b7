import Foundation
import Testing

@testable import ComplaintEvents

/// The examples in `schemas/examples/` are the contract's canonical events: each must validate
/// against its schema with Python `jsonschema`, decode into its Swift type and survive a round trip.
@Suite struct ExampleTests {
    @Test(arguments: Fixtures.exampleFiles)
    func exampleDecodesIntoItsTypeAndRoundTrips(_ file: URL) throws {
        let schema = try #require(EventSchemaInfo.named(Fixtures.schemaName(of: file)), "no schema for \(file.lastPathComponent)")
        let topicCase = try #require(TopicCase.named(schema.topicName))
        let bytes = try Fixtures.bytes(file)
        let (equal, reencoded) = try topicCase.roundTrip(bytes)
        #expect(equal, "decode → encode → decode changed \(file.lastPathComponent)")
        #expect(try topicCase.roundTrip(reencoded).reencoded == reencoded, "encoding is not canonical")
        guard case .string(let type)? = try Fixtures.json(file)["type"] else {
            Issue.record("\(file.lastPathComponent) has no type")
            return
        }
        #expect(Topics.carrying(eventType: type)?.name == schema.topicName)
    }

    @Test func examplesValidateAgainstTheirSchemas() async throws {
        let results = try await SchemaValidator.validate([Fixtures.examples])
        #expect(results.count == Fixtures.exampleFiles.count + 1, "one result per example plus asyncapi.yaml")
        for result in results where !result.valid {
            Issue.record("\(result.file): \(result.errors.map { "\($0.path): \($0.message)" }.joined(separator: "; "))")
        }
    }

    @Test func everyEventSchemaHasAnExample() {
        let covered = Set(Fixtures.exampleFiles.map(Fixtures.schemaName(of:)))
        #expect(EventSchemaInfo.all.count == Topics.all.count)
        for schema in EventSchemaInfo.all {
            #expect(covered.contains(schema.name), "no example for \(schema.name)")
        }
    }

    /// Multi-kind topics need an example of every kind, and text-bearing kinds one in Chinese and one in English.
    @Test func everyKindHasAnExample() throws {
        var kinds: [String: Set<String>] = [:]
        for file in Fixtures.exampleFiles {
            let event = try Fixtures.json(file)
            if case .string(let kind)? = event["data"]?["kind"], case .string(let type)? = event["type"] {
                kinds[type, default: []].insert(kind)
            }
        }
        #expect(kinds[ComplaintUpdated.eventType] == Set(ComplaintUpdated.Kind.allCases.map(\.rawValue)))
        #expect(kinds[ComplaintSLAEvent.eventType] == Set(ComplaintSLAEvent.Kind.allCases.map(\.rawValue)))
        #expect(kinds[NotificationOutcome.eventType] == Set(NotificationOutcome.Kind.allCases.map(\.rawValue)))

        let names = Set(Fixtures.exampleFiles.map(\.lastPathComponent))
        for textual in ["complaint-submitted.v1", "complaint-received.v1", "complaint-classified.v1", "complaint-assigned.v1",
                        "complaint-updated.v1.note-added", "complaint-updated.v1.resolved", "complaint-updated.v1.reopened",
                        "complaint-updated.v1.compensation-requested", "complaint-updated.v1.compensation-approved",
                        "complaint-updated.v1.compensation-rejected", "complaint-updated.v1.followup-recorded"] {
            #expect(names.contains("\(textual).zh.json") && names.contains("\(textual).en.json"), "\(textual) needs zh and en")
        }
    }
}
