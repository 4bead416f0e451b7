import ComplaintEvents
import Foundation
import Logging
import PostgresNIO

/// One input of a stage: a topic and the handler its events go to.
///
/// A stage lists its inputs; the runtime subscribes one consumer group to all their topics and sends
/// each message to the handler of its topic, with the same inbox, outbox, dead-letter, retry and
/// offset guarantees for every input.
public struct StageInput: Sendable {
    /// The topic's name (tests rename topics to stay isolated).
    public private(set) var topic: String
    /// Decodes a message of ``topic`` into an event ready to apply; throws the validation error.
    let decode: @Sendable ([UInt8]) throws -> DecodedEvent
    /// Whether the handler works outside the transaction first (checks the inbox before that step).
    let prepares: Bool
    /// Whether several queued events of one partition may be applied in one transaction (see
    /// ``PipelineConfiguration/maximumEventsPerTransaction``); a preparing handler then prepares each
    /// of them, in order, before the transaction.
    public private(set) var sharesTransactions = true
    /// For handlers that lock a row per hotel: called first in a shared transaction with its events'
    /// hotels, sorted, to lock them all in that one order (see ``sharingTransactions(lockingHotelsFirst:)``).
    var lockHotels: (@Sendable (_ hotelIDs: [String], _ connection: PostgresConnection, _ logger: Logger) async throws -> Void)?

    /// The same input, read from `prefix` + its topic (``ServiceSettings/topicPrefix``).
    public func prefixed(_ prefix: String) -> StageInput {
        var input = self
        input.topic = prefix + topic
        return input
    }

    /// `handler` applies the events of `topic`.
    public init<Handler: EventHandler>(_ topic: Topic<Handler.Input>, _ handler: Handler) {
        self.topic = topic.name
        self.prepares = false
        self.decode = { bytes in
            let event = try topic.decode(bytes)
            return DecodedEvent(
                id: event.id, type: event.type, subject: event.subject, hotelID: event.hotelID, takesHotelLock: handler.takesHotelLock(event)
            ) { _ in
                PreparedEvent { context in try await handler.handle(event, context: context) }
            }
        }
    }

    /// `handler` prepares outside the transaction, then applies the events of `topic`.
    public init<Handler: PreparingEventHandler>(_ topic: Topic<Handler.Input>, preparing handler: Handler) {
        self.topic = topic.name
        self.prepares = true
        self.decode = { bytes in
            let event = try topic.decode(bytes)
            return DecodedEvent(
                id: event.id, type: event.type, subject: event.subject, hotelID: event.hotelID, takesHotelLock: handler.takesHotelLock(event)
            ) { context in
                let preparation = try await handler.prepare(event, context: context)
                return PreparedEvent { context in try await handler.handle(event, prepared: preparation, context: context) }
            }
        }
    }
}

extension StageInput {
    /// This input's events are applied one per transaction, never several together.
    ///
    /// For a handler that writes rows shared across complaints (a counter of a hotel and day, another
    /// complaint of the same guest): a shared transaction locks its events' complaints first, in one
    /// order (so two lanes holding the same complaints in different orders never wait on each other
    /// in a cycle), but not rows beyond them. For a per-hotel lock see
    /// ``sharingTransactions(lockingHotelsFirst:)``.
    public func oneEventPerTransaction() -> StageInput {
        var input = self
        input.sharesTransactions = false
        return input
    }

    /// This input's handler locks a row per hotel before anything else, as every transaction of its
    /// service does (a hotel's assignments are serialised by it). Its events share transactions all the
    /// same, one per hotel: a shared transaction first calls `lock` with its hotel (the hotels, sorted,
    /// are the interface), unless none of its events takes the lock
    /// (``EventHandler/takesHotelLock(_:)``), so every transaction takes its hotel lock before any row.
    public func sharingTransactions(
        lockingHotelsFirst lock: @escaping @Sendable (_ hotelIDs: [String], _ connection: PostgresConnection, _ logger: Logger) async throws -> Void
    ) -> StageInput {
        var input = self
        input.sharesTransactions = true
        input.lockHotels = lock
        return input
    }
}

/// A decoded event of some input, its payload type erased behind the steps that apply it.
struct DecodedEvent: Sendable {
    let id: UUID
    let type: String
    let subject: String?
    let hotelID: String
    /// Whether the handler takes the event's hotel lock (see ``EventHandler/takesHotelLock(_:)``).
    let takesHotelLock: Bool
    /// The handler's work outside the transaction (nothing for a plain ``EventHandler``).
    let prepare: @Sendable (PreparationContext) async throws -> PreparedEvent
}

/// An event whose preparation is done: what remains runs inside the stage's transaction.
struct PreparedEvent: Sendable {
    let apply: @Sendable (HandlerContext) async throws -> [OutgoingEvent]
}
