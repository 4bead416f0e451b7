import ComplaintStore
import ComplaintTesting
import Foundation
import PostgresNIO
import Synchronization
import Testing

/// A `LISTEN` connection sends nothing: one whose server vanished without a reset waited for ever,
/// holding a pool slot, and its notifications were lost. Its periodic round trip finds out.
@Suite(.timeLimit(.minutes(2)))
struct ListenerHeartbeatTests {
    @Test func aListenerWhoseRoundTripDoesNotAnswerIsClosedAndEnds() async throws {
        try await withTestClient { client async throws in
            var heartbeat = ListenerHeartbeat()
            heartbeat.interval = .milliseconds(50)
            heartbeat.timeout = .milliseconds(300)
            // A server that no longer answers, as a vanished host's connection behaves.
            heartbeat.query = "SELECT pg_sleep(20)"
            let ended = Mutex<String?>(nil)
            let listener = Task {
                do {
                    try await client.withNotifications(channel: "heartbeat_test", heartbeat: heartbeat, logger: .test) { notifications in
                        for try await _ in notifications {}
                    }
                    ended.withLock { $0 = "returned" }
                } catch {
                    ended.withLock { $0 = "\(error)" }
                }
            }
            let closed = await eventually(timeout: .seconds(20)) { ended.withLock { $0 != nil } }
            #expect(closed, "the listener still waits on a connection that does not answer")
            listener.cancel()
            _ = await listener.value
            #expect(ended.withLock { $0 } != "returned")
            // The pool goes on with a new connection.
            #expect(try await client.scalar("SELECT 1", as: Int.self) == 1)
        }
    }

    @Test func aHealthyListenerKeepsReceivingBetweenRoundTrips() async throws {
        try await withTestClient { client async throws in
            var heartbeat = ListenerHeartbeat()
            heartbeat.interval = .milliseconds(20)
            let channel = "heartbeat_ok_\(UUID().uuidString.prefix(8).lowercased())"
            let received = Mutex(0)
            let listening = Mutex(false)
            let listener = Task {
                try await client.withNotifications(channel: channel, heartbeat: heartbeat, logger: .test) { notifications in
                    listening.withLock { $0 = true }
                    for try await _ in notifications {
                        if received.withLock({ $0 += 1; return $0 }) >= 5 { return }
                    }
                }
            }
            #expect(await eventually(timeout: .seconds(20)) { listening.withLock { $0 } })
            let all = try await eventually(timeout: .seconds(20)) {
                try await client.query(PostgresQuery(unsafeSQL: "NOTIFY \(channel)"), logger: .test)
                return received.withLock { $0 } >= 5
            }
            #expect(all)
            try await listener.value
        }
    }
}
