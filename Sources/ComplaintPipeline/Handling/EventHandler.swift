import ComplaintEvents
import ComplaintStore
import Foundation
import Logging
import PostgresNIO

/// One stage's logic for one input topic: what it does with an event.
///
/// The pipeline calls ``handle(_:context:)`` inside a PostgreSQL transaction on
/// ``HandlerContext/connection``, after checking the stage's inbox, with the service's schema first on
/// the `search_path` (name your tables plainly): write the stage's own tables on that connection, record
/// intents for calls to the outside world (``HandlerContext/recordIntent(kind:idempotencyKey:payload:maximumAttempts:dueAt:)``)
/// and return the events to publish. Effect, intents, inbox row and outbox rows commit together, so a
/// redelivered event changes nothing and a crash loses nothing.
///
/// Which topic feeds which handler is declared by the stage, as ``StageInput`` pairs.
public protocol EventHandler: Sendable {
    associatedtype Input: EventPayload

    /// Applies `event`. Throw a ``PermanentError`` for an event that can never be applied (it is
    /// dead-lettered); any other error rolls the transaction back and is retried.
    func handle(_ event: EventEnvelope<Input>, context: HandlerContext) async throws -> [OutgoingEvent]

    /// For an input shared with ``StageInput/sharingTransactions(lockingHotelsFirst:)``: whether applying
    /// `event` takes its hotel's lock. A shared transaction locks up front only the hotels of events
    /// that do; answer `false` only for events whose handling never takes it. Default: `true`.
    func takesHotelLock(_ event: EventEnvelope<Input>) -> Bool
}

extension EventHandler {
    public func takesHotelLock(_ event: EventEnvelope<Input>) -> Bool { true }
}

/// A handler with a step that must not run inside the transaction: a call to an external model or
/// service whose answer the handler needs to apply the event.
///
/// The pipeline checks the inbox first (a known duplicate is skipped without the call), runs
/// ``prepare(_:context:)`` outside any transaction, then opens the transaction and calls
/// ``handle(_:prepared:context:)``. A retry repeats both; a shared transaction rolled back (another
/// event's failure, a deadlock) does not: its events are applied one at a time with what their
/// preparations produced. For calls whose *effect* matters (an e-mail, a webhook), record an intent
/// instead: the work queue makes them at most once per key.
public protocol PreparingEventHandler: Sendable {
    associatedtype Input: EventPayload
    associatedtype Preparation: Sendable

    /// Work outside the transaction; throw as ``EventHandler/handle(_:context:)`` does.
    func prepare(_ event: EventEnvelope<Input>, context: PreparationContext) async throws -> Preparation

    /// Applies `event` with what ``prepare(_:context:)`` produced, inside the stage's transaction.
    func handle(_ event: EventEnvelope<Input>, prepared: Preparation, context: HandlerContext) async throws -> [OutgoingEvent]

    /// As ``EventHandler/takesHotelLock(_:)``. Default: `true`.
    func takesHotelLock(_ event: EventEnvelope<Input>) -> Bool
}

extension PreparingEventHandler {
    public func takesHotelLock(_ event: EventEnvelope<Input>) -> Bool { true }
}

/// What ``PreparingEventHandler/prepare(_:context:)`` gets: a logger, and read-only access to the
/// service's own schema for what the outside call needs to know (nothing it reads is locked: the
/// transaction that follows must check again).
public struct PreparationContext: Sendable {
    public var logger: Logger
    /// Read-only transactions on the service's schema (never write here; the transaction follows).
    public var store: StageStore

    public init(logger: Logger, store: StageStore) {
        self.logger = logger
        self.store = store
    }
}

/// What a handler gets besides the event.
public struct HandlerContext: Sendable {
    /// Already carries the service, event and complaint ids.
    public var logger: Logger
    /// The connection of the stage's transaction. Never commit or roll back on it yourself.
    public var connection: PostgresConnection
    /// Where the event was read from.
    public var origin: MessageOrigin
    /// 1 for the first attempt at this event, 2 for the first retry, …
    public var attempt: Int
    /// The service's work queue, for intents recorded in this transaction.
    public var workQueue: WorkQueue

    public init(logger: Logger, connection: PostgresConnection, origin: MessageOrigin, attempt: Int, workQueue: WorkQueue) {
        self.logger = logger
        self.connection = connection
        self.origin = origin
        self.attempt = attempt
        self.workQueue = workQueue
    }

    /// Records an intent to call the outside world, committed with the handler's effect and performed
    /// later by the stage's ``WorkQueueWorker`` for `kind`.
    /// - Returns: `false` when an intent with `idempotencyKey` was recorded before (nothing new is queued).
    @discardableResult
    public func recordIntent(
        kind: String, idempotencyKey: String, payload: some Encodable, maximumAttempts: Int, dueAt: Date? = nil
    ) async throws -> Bool {
        try await workQueue.enqueue(
            kind: kind, idempotencyKey: idempotencyKey, payload: payload, maximumAttempts: maximumAttempts, dueAt: dueAt,
            on: connection, logger: logger)
    }
}

/// Where a consumed message came from.
public struct MessageOrigin: Sendable, Hashable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32
    public var offset: Int64

    public init(topic: String, partition: Int32, offset: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }

    public var description: String { "\(topic)/\(partition)@\(offset)" }
}
