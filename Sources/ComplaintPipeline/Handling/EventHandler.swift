import ComplaintEvents
import Logging
import PostgresNIO

/// One stage's logic: what it does with an event of its input topic.
///
/// The pipeline calls ``handle(_:context:)`` inside a PostgreSQL transaction on
/// ``HandlerContext/connection``, after checking the stage's inbox: write the stage's own tables on
/// that connection and return the events to publish. Effect, inbox row and outbox rows commit
/// together, so a redelivered event changes nothing and a crash loses nothing.
public protocol EventHandler: Sendable {
    associatedtype Input: EventPayload

    /// The topic this stage consumes.
    var inputTopic: Topic<Input> { get }

    /// Applies `event`. Throw a ``PermanentError`` for an event that can never be applied (it is
    /// dead-lettered); any other error rolls the transaction back and is retried.
    func handle(_ event: EventEnvelope<Input>, context: HandlerContext) async throws -> [OutgoingEvent]
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

    public init(logger: Logger, connection: PostgresConnection, origin: MessageOrigin, attempt: Int) {
        self.logger = logger
        self.connection = connection
        self.origin = origin
        self.attempt = attempt
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
