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

    /// The guest locks the handler takes, declared so that events sharing a transaction take them all
    /// first, sorted (``TransactionLocks``): each event locks its guest at its hotel, a row beyond its own
    /// complaint that another partition's complaint of the same guest locks too.
    public static let guestLocks = TransactionLocks<ComplaintReceived>(
        keys: { event in GuestVisit(of: event.data).map { [$0.lockSubject] } ?? [] },
        acquire: { subjects, connection, logger in try await ClassificationStore().lockGuests(subjects, on: connection, logger: logger) })

    /// Asks the plugins, outside the transaction.
    public func prepare(_ event: EventEnvelope<ComplaintReceived>, context: PreparationContext) async throws -> ClassificationEngine.Assessment {
        await engine.assess(ComplaintInput(event.data))
    }

    public func handle(
        _ event: EventEnvelope<ComplaintReceived>, prepared assessment: ClassificationEngine.Assessment, context: HandlerContext
    ) async throws -> [OutgoingEvent] {
        let received = event.data
        var history = GuestHistorySummary.none
        let visit = GuestVisit(of: received)
        if let visit {
            // Taken already when the event shares its transaction (``guestLocks``): then at once.
            try await store.lockGuest(of: visit, on: context.connection, logger: context.logger)
            history = try await store.history(for: visit, on: context.connection, logger: context.logger)
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
