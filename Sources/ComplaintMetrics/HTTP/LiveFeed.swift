import ComplaintStore
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Fans the metrics schema's committed ``LiveUpdate``s out to the dashboard's open streams: one
/// `LISTEN` connection per process (reconnecting after PostgreSQL restarts, and when its periodic round
/// trip, ``ComplaintStore/ListenerHeartbeat``, finds it dead), one bounded buffer per
/// subscriber (a slow browser loses old updates, never slows the stage), and a heartbeat every
/// ``heartbeat`` so proxies keep idle streams open and `/v1/live` checks its key again.
///
/// Updates are hints, not a record: whenever some may have been lost — a subscriber's buffer
/// overflowed, or the `LISTEN` connection came back after being down — the subscriber gets
/// ``Message/resync`` (the dashboard then re-reads everything).
///
/// Streams are bounded: at most ``Limits/perKey`` per API key and ``Limits/total`` per process.
public final class LiveFeed: Service, Sendable {
    /// What a subscriber receives.
    public enum Message: Sendable, Equatable {
        case update(LiveUpdate)
        case heartbeat
        /// Updates may have been lost since the last one received: read everything again.
        case resync
    }

    /// How many streams may be open at once.
    public struct Limits: Sendable, Hashable {
        /// Per API key (a manager's few tabs and screens).
        public var perKey: Int
        /// Per process, whatever the keys.
        public var total: Int
        public init(perKey: Int = 5, total: Int = 500) {
            self.perKey = perKey
            self.total = total
        }
    }

    /// A subscription refused because a limit is reached.
    public struct TooManyStreams: Error, Sendable, CustomStringConvertible {
        /// `key` or `process`.
        public var scope: String
        public var limit: Int
        public var description: String {
            scope == "key" ? "this API key already has \(limit) live streams open" : "the service already serves \(limit) live streams"
        }
    }

    /// One subscriber's messages, in order; a ``Message/resync`` comes first after its buffer lost some.
    /// Its place counts against the limits until ``finish()``, or until it and its iterators are gone:
    /// the feed keeps only the continuation, and an `AsyncStream` nobody holds any more ends (running
    /// `onTermination`). `/v1/live` relies on that when the client is gone before the response head is
    /// written and the body that finishes the subscription never runs (`LiveStreamTests`).
    public struct Subscription: AsyncSequence, Sendable {
        public typealias Element = Message
        public typealias Failure = Never
        let stream: AsyncStream<Message>
        let continuation: AsyncStream<Message>.Continuation
        let lost: MutexBox<Bool>

        /// Ends the stream: the reader gets what is buffered, then the end.
        public func finish() { continuation.finish() }

        public func makeAsyncIterator() -> Iterator { Iterator(base: stream.makeAsyncIterator(), lost: lost) }

        public struct Iterator: AsyncIteratorProtocol {
            public typealias Failure = Never
            var base: AsyncStream<Message>.AsyncIterator
            let lost: MutexBox<Bool>
            public mutating func next() async -> Message? {
                if lost.withLock({ lost in
                    defer { lost = false }
                    return lost
                }) {
                    return .resync
                }
                return await base.next()
            }
        }
    }

    struct Subscriber: Sendable {
        var continuation: AsyncStream<Message>.Continuation
        var lost: MutexBox<Bool>
        var keyID: String
    }

    let client: PostgresClient
    let channel: String
    let heartbeat: Duration
    /// The `LISTEN` connection's round trip: a host gone without a reset is found within its interval and
    /// timeout, not after the kernel's retransmissions (about 15 minutes of streams hearing nothing).
    let listenerHeartbeat: ListenerHeartbeat
    let limits: Limits
    /// Unread messages a subscriber may have before the oldest go.
    let bufferSize: Int
    let logger: Logger
    private let subscribers = Mutex<[UUID: Subscriber]>([:])
    private let listening = Mutex(false)

    public init(
        client: PostgresClient, channel: String, heartbeat: Duration = .seconds(15), listenerHeartbeat: ListenerHeartbeat = ListenerHeartbeat(),
        limits: Limits = Limits(), bufferSize: Int = 256, logger: Logger
    ) {
        self.client = client
        self.channel = channel
        self.heartbeat = heartbeat
        self.listenerHeartbeat = listenerHeartbeat
        self.limits = limits
        self.bufferSize = max(1, bufferSize)
        self.logger = logger
    }

    /// Whether the `LISTEN` connection is up (`/health/ready` does not depend on it: the API works without).
    public var isListening: Bool { listening.withLock { $0 } }

    /// Streams open now.
    public var subscriberCount: Int { subscribers.withLock { $0.count } }

    /// A stream of updates for `keyID` until the subscriber stops reading it or ``Subscription/finish()``.
    /// - Throws: ``TooManyStreams`` when the key or the process has as many as ``limits`` allows.
    public func subscribe(keyID: String) throws(TooManyStreams) -> Subscription {
        let id = UUID()
        let (stream, continuation) = AsyncStream<Message>.makeStream(bufferingPolicy: .bufferingNewest(bufferSize))
        let subscriber = Subscriber(continuation: continuation, lost: MutexBox(false), keyID: keyID)
        let refusal: TooManyStreams? = subscribers.withLock { subscribers in
            if subscribers.count >= limits.total { return TooManyStreams(scope: "process", limit: limits.total) }
            if subscribers.values.count(where: { $0.keyID == keyID }) >= limits.perKey { return TooManyStreams(scope: "key", limit: limits.perKey) }
            subscribers[id] = subscriber
            return nil
        }
        if let refusal { throw refusal }
        continuation.onTermination = { [weak self] _ in
            _ = self?.subscribers.withLock { $0.removeValue(forKey: id) }
        }
        return Subscription(stream: stream, continuation: continuation, lost: subscriber.lost)
    }

    /// Sends `message` to every subscriber; one whose buffer is full loses its oldest and is told to resync.
    func broadcast(_ message: Message) {
        for subscriber in subscribers.withLock({ Array($0.values) }) {
            if case .dropped = subscriber.continuation.yield(message) {
                subscriber.lost.withLock { $0 = true }
            }
        }
    }

    /// Ends every stream (the process is stopping).
    public func finishAll() {
        for subscriber in subscribers.withLock({ Array($0.values) }) { subscriber.continuation.finish() }
    }

    public func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: heartbeat)
                    broadcast(.heartbeat)
                }
            }
            group.addTask { [self] in await listen() }
            try? await gracefulShutdown()
            group.cancelAll()
        }
        finishAll()
    }

    private func listen() async {
        let listenedBefore = MutexBox(false)
        while !Task.isCancelled {
            do {
                try await client.withNotifications(channel: channel, heartbeat: listenerHeartbeat, logger: logger) { notifications in
                    listening.withLock { $0 = true }
                    // Back after an outage: what was committed meanwhile was never heard.
                    if listenedBefore.withLock({ before in
                        defer { before = true }
                        return before
                    }) {
                        logger.info("live feed listens again; streams are told to resync")
                        broadcast(.resync)
                    }
                    for try await notification in notifications {
                        guard let update = try? LiveUpdate.decoder.decode(LiveUpdate.self, from: Data(notification.payload.utf8)) else { continue }
                        broadcast(.update(update))
                    }
                }
            } catch {
                if Task.isCancelled { break }
                logger.warning("live feed lost its LISTEN connection; retrying", metadata: ["error": "\(error)"])
            }
            listening.withLock { $0 = false }
            try? await Task.sleep(for: .seconds(1))
        }
    }
}
