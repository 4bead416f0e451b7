import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import Foundation
import Logging

/// The classifier stage: a registered complaint in, its classification out. The plugins (one of
/// which may call an external model) run first, outside any transaction; then, in the engine's
/// transaction, it reads and extends the guest history, finishes the classification, stores the
/// verdict and returns a `complaints.classified.v1` event for the outbox, so a redelivered event
/// changes nothing.
public struct ClassifierHandler: PreparingEventHandler {
    public let outputTopic: Topic<ComplaintClassified>
    public let engine: ClassificationEngine
    public let store: ClassificationStore
    /// The envelope `source` of published events.
    public var source = "/redress/classifier"
    public var clock: @Sendable () -> Date = { Date() }

    public init(
        engine: ClassificationEngine, outputTopic: Topic<ComplaintClassified> = Topics.classified
    ) {
        self.engine = engine
        self.store = ClassificationStore()
        self.outputTopic = outputTopic
    }

    /// Asks the plugins, outside the transaction.
    public func prepare(_ event: EventEnvelope<ComplaintReceived>, context: PreparationContext) async throws -> ClassificationEngine.Assessment {
        await engine.assess(ComplaintInput(event.data))
    }

    public func handle(
        _ event: EventEnvelope<ComplaintReceived>, prepared assessment: ClassificationEngine.Assessment, context: HandlerContext
    ) async throws -> [OutgoingEvent] {
        let received = event.data
        var history = GuestHistorySummary.none
        var visit: GuestVisit?
        if let guestKey = received.guest.guestKey {
            let current = GuestVisit(
                guestKey: guestKey, hotelID: received.hotelID, reservationReference: received.guest.reservationReference,
                complaintID: received.complaintID, registeredAt: received.registeredAt)
            try await store.lockGuest(of: current, on: context.connection, logger: context.logger)
            history = try await store.history(for: current, on: context.connection, logger: context.logger)
            visit = current
        }
        let classification = engine.finish(assessment, history: history)
        if let visit {
            try await store.record(visit, on: context.connection, logger: context.logger)
        }
        let now = clock()
        let isNew = try await store.save(
            classification, complaintID: received.complaintID, hotelID: received.hotelID, classifiedAt: now,
            registeredAt: received.registeredAt, on: context.connection, logger: context.logger)
        guard isNew else {
            context.logger.info("complaint already classified; not publishing again")
            return []
        }
        context.logger.debug("classified", metadata: [
            "classification.category": "\(classification.category.rawValue)",
            "classification.severity": "\(classification.severity.rawValue)",
            "classification.priority": "\(classification.priority)",
        ])
        let classified = ComplaintClassified(
            complaintID: received.complaintID, classifiedAt: now, category: classification.category,
            severity: classification.severity, priority: classification.priority, language: classification.language,
            sentiment: classification.sentiment, flags: classification.flags, confidence: classification.confidence,
            explanation: classification.explanation, registeredAt: received.registeredAt)
        let envelope = EventEnvelope(
            source: source, time: now, hotelID: event.hotelID, traceParent: event.traceParent, traceState: event.traceState,
            data: classified)
        return [try OutgoingEvent(envelope, on: outputTopic)]
    }
}
