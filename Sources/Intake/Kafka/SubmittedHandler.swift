import Access
import ComplaintEvents
import ComplaintPipeline
import Foundation
import Logging

/// The Kafka door: complaints other systems publish on `complaints.submitted.v1`, registered by the
/// same ``ComplaintRegistrar`` as the HTTP door, in the pipeline's transaction.
///
/// Malformed or invalid events never reach here: the pipeline dead-letters them with the decoder's
/// `path: rule` reason. An envelope whose `hotelid` contradicts its data is dead-lettered too, and so
/// is a submission reusing the hotel + `source` + `externalId` of a complaint registered with other
/// content ("externalId already registered with different content"); the same content again is a replay.
public struct SubmittedHandler: EventHandler {
    public var registrar: ComplaintRegistrar

    public init(registrar: ComplaintRegistrar) {
        self.registrar = registrar
    }

    public func handle(_ event: EventEnvelope<ComplaintSubmitted>, context: HandlerContext) async throws -> [OutgoingEvent] {
        guard event.hotelID == event.data.hotelID else {
            throw RejectedEvent("hotelid: '\(event.hotelID)' differs from data.hotelId '\(event.data.hotelID)'")
        }
        let actor = EventActor(id: event.data.source, role: .system)
        let outcome: RegistrationOutcome
        do {
            outcome = try await registrar.register(
                event.data, actor: actor, traceParent: event.traceParent, on: context.connection, logger: context.logger)
        } catch let reused as ExternalIDReused {
            // Another complaint under an id already taken: never applicable, so a dead letter at once.
            throw RejectedEvent("\(ExternalIDReused.reason) (complaint \(reused.complaintID.uuidString.lowercased()))")
        }
        context.logger.info(
            outcome.created ? "complaint registered" : "complaint already registered",
            metadata: [LoggingKeys.complaintID: "\(outcome.complaintID)", "door": "kafka"])
        return outcome.events
    }
}
