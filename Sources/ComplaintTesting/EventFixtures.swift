import ComplaintEvents
import Foundation

/// Realistic events for tests, built from the canonical examples in `schemas/examples/` (so the
/// fixtures never drift from the contract).
public enum EventFixtures {
    /// The repository's `schemas/examples` folder.
    public static let examplesDirectory: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("schemas/examples")

    /// Decodes the example `name` (e.g. `complaint-received.v1.en.json`) from `topic`.
    public static func example<Payload>(_ name: String, on topic: Topic<Payload>) throws -> EventEnvelope<Payload> {
        let data = try Data(contentsOf: examplesDirectory.appendingPathComponent(name))
        return try topic.decode(data)
    }

    /// A new complaint-received event (fresh event and complaint ids) based on the English example.
    public static func received(complaintID: UUID = UUID(), eventID: UUID = UUID()) throws -> EventEnvelope<ComplaintReceived> {
        var event = try example("complaint-received.v1.en.json", on: Topics.received)
        event.id = eventID
        event.data.complaintID = complaintID
        return event
    }

    /// A complaint-classified event for `complaintID`, based on the English example.
    public static func classified(complaintID: UUID, eventID: UUID = UUID()) throws -> EventEnvelope<ComplaintClassified> {
        var event = try example("complaint-classified.v1.en.json", on: Topics.classified)
        event.id = eventID
        event.data.complaintID = complaintID
        return event
    }

    /// A complaint-assigned event for `complaintID`, based on the English example.
    public static func assigned(complaintID: UUID, eventID: UUID = UUID()) throws -> EventEnvelope<ComplaintAssigned> {
        var event = try example("complaint-assigned.v1.en.json", on: Topics.assigned)
        event.id = eventID
        event.data.complaintID = complaintID
        return event
    }
}
