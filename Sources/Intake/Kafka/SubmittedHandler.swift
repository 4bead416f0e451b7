import Access
import ComplaintEvents
import ComplaintPipeline
import Foundation
import Logging

/// The Kafka door: complaints other systems publish on `complaints.submitted.v1`, registered by the
/// same ``ComplaintRegistrar`` as the HTTP door, in the pipeline's transaction.
///
/// Malformed or invalid events never reach here: the pipeline dead-letters them with the decoder's
/// `path: rule` reason. An envelope whose `hotelid` contradicts its data is dead-lettered too.
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
        let outcome = try await registrar.register(
            event.data, actor: actor, traceParent: event.traceParent, on: context.connection, logger: context.logger)
        context.logger.info(
            outcome.created ? "complaint registered" : "complaint already registered",
            metadata: [LoggingKeys.complaintID: "\(outcome.complaintID)", "door": "kafka"])
        return outcome.events
    }
}
