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
    /// For handlers that lock rows beyond their event's own complaint: taken first in a shared
    /// transaction, for all its events' keys (``DecodedEvent/lockKeys``) at once, sorted (see
    /// ``TransactionLocks`` and ``sharingTransactions(lockingHotelsFirst:)``).
    var locksFirst: LocksFirst?
    /// Whether a shared transaction of this input takes its events' locks first (``TransactionLocks``,
    /// ``sharingTransactions(lockingHotelsFirst:)``).
    public var takesLocksFirst: Bool { locksFirst != nil }
    /// Whether its events older than ``PipelineConfiguration/inboxHorizon`` are applied all the same
    /// instead of passed over (``applyingEventsPastInboxHorizon()``). Off by default.
    public private(set) var appliesEventsPastInboxHorizon = false

    /// The same input, read from `prefix` + its topic (``ServiceSettings/topicPrefix``).
    public func prefixed(_ prefix: String) -> StageInput {
        var input = self
        input.topic = prefix + topic
        return input
    }

    /// `handler` applies the events of `topic`; with `locks`, a shared transaction takes every event's
    /// lock keys first (see ``TransactionLocks``).
    public init<Handler: EventHandler>(
        _ topic: Topic<Handler.Input>, _ handler: Handler, lockingFirst locks: TransactionLocks<Handler.Input>? = nil
    ) {
        self.topic = topic.name
        self.prepares = false
        self.locksFirst = locks.map { LocksFirst(acquire: $0.acquire, onePerHotel: false) }
        self.decode = { bytes in
            let event = try topic.decode(bytes)
            return DecodedEvent(
                id: event.id, type: event.type, subject: event.subject, hotelID: event.hotelID,
                lockKeys: locks?.keys(event) ?? (handler.takesHotelLock(event) ? [event.hotelID] : [])
            ) { _ in
                PreparedEvent { context in try await handler.handle(event, context: context) }
            }
        }
    }

    /// `handler` prepares outside the transaction, then applies the events of `topic`; `locks` as for
    /// ``init(_:_:lockingFirst:)``.
    public init<Handler: PreparingEventHandler>(
        _ topic: Topic<Handler.Input>, preparing handler: Handler, lockingFirst locks: TransactionLocks<Handler.Input>? = nil
    ) {
        self.topic = topic.name
        self.prepares = true
        self.locksFirst = locks.map { LocksFirst(acquire: $0.acquire, onePerHotel: false) }
        self.decode = { bytes in
            let event = try topic.decode(bytes)
            return DecodedEvent(
                id: event.id, type: event.type, subject: event.subject, hotelID: event.hotelID,
                lockKeys: locks?.keys(event) ?? (handler.takesHotelLock(event) ? [event.hotelID] : [])
            ) { context in
                let preparation = try await handler.prepare(event, context: context)
                return PreparedEvent { context in try await handler.handle(event, prepared: preparation, context: context) }
            }
        }
    }
}

/// The locks a handler takes on rows beyond its event's own complaint (another complaint's guest, a
/// hotel's counter), named by keys, so that events sharing a transaction can take them all first.
///
/// Lanes (partitions) apply their events side by side. A handler that locks such a row while applying
/// its event would, in a shared transaction, take its events' locks one by one in the partition's
/// order, and two lanes holding the same keys in opposite orders would wait on each other in a cycle
/// (PostgreSQL ends one with a deadlock error after `deadlock_timeout`; the transaction is rolled back
/// and applied again one event at a time). Declared on the input
/// (``StageInput/init(_:preparing:lockingFirst:)``), a shared transaction instead calls ``acquire``
/// once with the keys of all its new events, distinct and sorted, before any handler runs; the
/// handler's own lock on one of them then returns at once. A transaction of one event is left to the
/// handler. The hotel lock of ``StageInput/sharingTransactions(lockingHotelsFirst:)`` is the case of
/// one key per event, its hotel.
public struct TransactionLocks<Input: EventPayload>: Sendable {
    /// The keys applying `event` will lock (none when its handling locks no such row).
    public var keys: @Sendable (EventEnvelope<Input>) -> [String]
    /// Takes the locks on `keys` (distinct, sorted) for the rest of the transaction, in one order that
    /// every transaction shares: the order given, or one of the lock's own (the keys' hashes, for
    /// advisory locks keyed by a hash). Either the lock the handler takes itself (taking it again in the
    /// same transaction returns at once, as PostgreSQL's row locks and transaction-scoped advisory locks
    /// do), or, for a handler that writes one such row per event without locking it first (an upsert
    /// of a counter), an advisory lock per key: transactions writing several rows then take turns
    /// before touching any.
    public var acquire: @Sendable (_ keys: [String], _ connection: PostgresConnection, _ logger: Logger) async throws -> Void

    public init(
        keys: @escaping @Sendable (EventEnvelope<Input>) -> [String],
        acquire: @escaping @Sendable (_ keys: [String], _ connection: PostgresConnection, _ logger: Logger) async throws -> Void
    ) {
        self.keys = keys
        self.acquire = acquire
    }
}

/// An input's ``TransactionLocks`` with its payload type erased: the keys are in each ``DecodedEvent``.
struct LocksFirst: Sendable {
    let acquire: @Sendable (_ keys: [String], _ connection: PostgresConnection, _ logger: Logger) async throws -> Void
    /// A shared transaction holds the events of one hotel only (the key of each is its hotel): see
    /// ``StageInput/sharingTransactions(lockingHotelsFirst:)``.
    let onePerHotel: Bool
}

extension StageInput {
    /// This input's events are applied one per transaction, never several together.
    ///
    /// A shared transaction locks its events' complaints first, in one order (so two lanes holding the
    /// same complaints in different orders never wait on each other in a cycle), but not rows beyond
    /// them: a handler that locks or writes such rows (a counter of a hotel and day, another complaint
    /// of the same guest) declares their keys (``TransactionLocks``) to share transactions, or opts out
    /// here when its rows cannot be named from the event alone.
    public func oneEventPerTransaction() -> StageInput {
        var input = self
        input.sharesTransactions = false
        return input
    }

    /// This input's handler is idempotent by its event's content: applying an event again after its inbox
    /// mark was purged changes nothing (intake registers a submission once per hotel + `source` +
    /// `externalId`, whatever its event id). Its events older than ``PipelineConfiguration/inboxHorizon``
    /// are then applied instead of passed over, so that nothing is lost when a record's timestamp is old:
    /// a connector that stamps records with the business time (Kafka Connect, Debezium), a backfill, a
    /// producer with a wrong clock, a stage lagging past the horizon. Only for such handlers: any other
    /// would apply a redelivered old event a second time.
    public func applyingEventsPastInboxHorizon() -> StageInput {
        var input = self
        input.appliesEventsPastInboxHorizon = true
        return input
    }

    /// This input's handler locks a row per hotel before anything else, as every transaction of its
    /// service does (a hotel's assignments are serialised by it). Its events share transactions all the
    /// same, one per hotel: the ``TransactionLocks`` whose key is each event's hotel, unless its handling
    /// never takes the lock (``EventHandler/takesHotelLock(_:)``); a shared transaction first calls `lock`
    /// with its hotel, so every transaction takes its hotel lock before any row. One per hotel, so that
    /// lanes take turns per hotel, not for every hotel of their partition at once.
    public func sharingTransactions(
        lockingHotelsFirst lock: @escaping @Sendable (_ hotelIDs: [String], _ connection: PostgresConnection, _ logger: Logger) async throws -> Void
    ) -> StageInput {
        precondition(locksFirst == nil, "an input declares one set of locks to take first")
        var input = self
        input.sharesTransactions = true
        input.locksFirst = LocksFirst(acquire: lock, onePerHotel: true)
        return input
    }
}

/// A decoded event of some input, its payload type erased behind the steps that apply it.
struct DecodedEvent: Sendable {
    let id: UUID
    let type: String
    let subject: String?
    let hotelID: String
    /// The keys of the locks its handler takes beyond its complaint, for an input that locks first
    /// (``StageInput/locksFirst``): its ``TransactionLocks/keys``, else its hotel when the handler takes
    /// the hotel lock (``EventHandler/takesHotelLock(_:)``).
    let lockKeys: [String]
    /// The handler's work outside the transaction (nothing for a plain ``EventHandler``).
    let prepare: @Sendable (PreparationContext) async throws -> PreparedEvent
}

/// An event whose preparation is done: what remains runs inside the stage's transaction.
struct PreparedEvent: Sendable {
    let apply: @Sendable (HandlerContext) async throws -> [OutgoingEvent]
}
