import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Fans the metrics schema's committed ``LiveUpdate``s out to the dashboard's open streams: one
/// `LISTEN` connection per process (reconnecting after PostgreSQL restarts), one bounded buffer per
/// subscriber (a slow browser loses old updates, never slows the stage), and a heartbeat every
/// ``heartbeat`` so proxies keep idle streams open.
public final class LiveFeed: Service, Sendable {
    /// What a subscriber receives.
    public enum Message: Sendable {
        case update(LiveUpdate)
        case heartbeat
    }

    let client: PostgresClient
    let channel: String
    let heartbeat: Duration
    let logger: Logger
    private let subscribers = Mutex<[UUID: AsyncStream<Message>.Continuation]>([:])
    private let listening = Mutex(false)

    public init(client: PostgresClient, channel: String, heartbeat: Duration = .seconds(15), logger: Logger) {
        self.client = client
        self.channel = channel
        self.heartbeat = heartbeat
        self.logger = logger
    }

    /// Whether the `LISTEN` connection is up (`/health/ready` does not depend on it: the API works without).
    public var isListening: Bool { listening.withLock { $0 } }

    /// A stream of updates until the subscriber stops reading it.
    public func subscribe() -> AsyncStream<Message> {
        let id = UUID()
        let (stream, continuation) = AsyncStream<Message>.makeStream(bufferingPolicy: .bufferingNewest(256))
        continuation.onTermination = { [weak self] _ in
            _ = self?.subscribers.withLock { $0.removeValue(forKey: id) }
        }
        subscribers.withLock { $0[id] = continuation }
        return stream
    }

    private func broadcast(_ message: Message) {
        for continuation in subscribers.withLock({ Array($0.values) }) { continuation.yield(message) }
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
        for continuation in subscribers.withLock({ Array($0.values) }) { continuation.finish() }
    }

    private func listen() async {
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    try await connection.listen(on: channel) { notifications in
                        listening.withLock { $0 = true }
                        for try await notification in notifications {
                            guard let update = try? LiveUpdate.decoder.decode(LiveUpdate.self, from: Data(notification.payload.utf8)) else { continue }
                            broadcast(.update(update))
                        }
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
