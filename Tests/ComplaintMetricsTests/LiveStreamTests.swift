import Access
import AsyncHTTPClient
import ComplaintEvents
@testable import ComplaintMetrics
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOHTTP1
import PostgresNIO
import RdKafkaTestKit
import ServiceLifecycle
import Synchronization
import Testing

/// `/v1/live` as a client sees it: it ends when the service begins to stop (so SIGTERM is not held up by
/// an open dashboard), when its key is revoked, and a client is told to resync whenever updates may
/// have been lost; streams are limited per key and per process.
@Suite("metrics live stream", .timeLimit(.minutes(3)))
struct LiveStreamTests {
    @Test("an open stream ends when graceful shutdown begins, and the stage stops without waiting out its timeout")
    func shutdownEndsStreams() async throws {
        let kafka = try KafkaTestEnvironment()
        let topics = try await MetricsHarness.makeTopics(kafka)
        let database = try await TestDatabase.shared.configuration()
        let service = RedressService.metrics.isolated()
        var settings = ServiceSettings.forTests(kafkaBrokers: kafka.bootstrapServers, databaseURL: database.url)
        // Far beyond the wait below: a stage that stops only because the timeout cancelled it fails the test.
        settings.shutdownTimeout = .seconds(600)
        var runtime = MetricsService.makeRuntime(
            service: service, settings: settings, settings: LiveConfiguration(name: "metrics", fixed: MetricsHarness.settings), topics: topics,
            parts: MetricsHarness.quietParts(), logger: .complaintTest)
        runtime.deadLetterTopic = try await kafka.makeTopic(prefix: "deadletter", partitions: 1)
        let port = MutexBox(0)
        runtime.onServerRunning = { value in port.withLock { $0 = value } }
        let group = try runtime.makeServiceGroup()
        try await withTestClient { client in
            do {
                try await Self.stopWithOpenStream(group, port: { port.withLock { $0 } }, client: client)
                try await dropSchema(service.schema, client: client)
            } catch {
                try? await dropSchema(service.schema, client: client)
                throw error
            }
        }
    }

    /// Runs `group` until it listens and is ready, opens `/v1/live`, begins a graceful shutdown and
    /// waits for the stream's end and the group's.
    static func stopWithOpenStream(_ group: ServiceGroup, port: @escaping @Sendable () -> Int, client: PostgresClient) async throws {
        do {
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                defer { tasks.cancelAll() }
                #expect(await eventually(timeout: .seconds(60)) { port() != 0 })
                let base = "http://127.0.0.1:\(port())"
                #expect(await eventually(timeout: .seconds(60)) { (try? await plainRequest(.GET, base + "/health/ready", key: nil))?.status == 200 })
                let (_, admin) = try await APIKeyStore.forTests(client: client)
                let stream = try await LiveStreamReader.open(base + "/v1/live", key: admin)
                #expect(stream.status == 200)
                #expect(await eventually(timeout: .seconds(30)) { stream.text.contains(": connected") })

                await group.triggerGracefulShutdown()
                // The stream gets its proper end (not a connection cut by cancellation) ...
                let ended = await eventually(timeout: .seconds(60)) { stream.outcome != nil }
                #expect(ended, "the stream was still open after the shutdown began")
                #expect(stream.outcome == "finished", "\(stream.outcome ?? "open")")
                // ... and the whole stage stops on its own, nothing cancelled.
                if ended {
                    _ = try await tasks.next()
                }
                stream.cancel()
            }
        }
    }

    @Test("a stream ends at the heartbeat after its key is revoked; streams are limited per key and per process (429)")
    func revocationAndLimits() async throws {
        var parts = MetricsHarness.quietParts()
        parts.liveHeartbeat = .milliseconds(200)
        parts.liveLimits = LiveFeed.Limits(perKey: 2, total: 3)
        try await MetricsHarness.run(parts: parts) { harness in
            let manager = try await harness.key(.manager, hotels: ["SHA-PD01"])
            let other = try await harness.key(.manager, hotels: ["SHA-PD01"])
            let url = harness.base + "/v1/live?hotel=SHA-PD01"
            let first = try await LiveStreamReader.open(url, key: manager)
            let second = try await LiveStreamReader.open(url, key: manager)
            defer {
                first.cancel()
                second.cancel()
            }
            #expect(first.status == 200 && second.status == 200)
            #expect(await eventually(timeout: .seconds(30)) { first.text.contains(": connected") && second.text.contains(": connected") })

            // A third stream of the same key is refused, naming the limit, with Retry-After.
            let third = try await LiveStreamReader.open(url, key: manager)
            #expect(third.status == 429)
            #expect(third.headers["retry-after"] == "30")
            #expect(third.headers["content-type"]?.hasPrefix("application/problem+json") == true)
            #expect(await eventually(timeout: .seconds(10)) { third.text.contains("too-many-streams") }, "\(third.text)")
            // Another key gets one, up to the process's limit.
            let theirs = try await LiveStreamReader.open(url, key: other)
            defer { theirs.cancel() }
            #expect(theirs.status == 200)
            let fourth = try await LiveStreamReader.open(url, key: try await harness.key(.admin, hotels: []))
            #expect(fourth.status == 429)

            // Revoked: both of its streams end at their next heartbeat; the other key's carries on.
            let id = try #require(APIKeySecret(parsing: Substring(manager))).id
            #expect(try await harness.keys.revoke(id: id, client: harness.client, logger: .complaintTest))
            #expect(await eventually(timeout: .seconds(30)) { first.outcome != nil && second.outcome != nil }, "revoked streams still open")
            #expect(first.outcome == "finished" && second.outcome == "finished")
            let heard = theirs.heartbeats
            #expect(await eventually(timeout: .seconds(30)) { theirs.heartbeats >= heard + 2 })
            #expect(theirs.outcome == nil)
            // Their places are free again.
            let again = try await LiveStreamReader.open(url, key: other)
            defer { again.cancel() }
            #expect(again.status == 200)
        }
    }

    @Test("a stream ends when its key no longer covers the hotel it names; one without hotel= keeps only the hotels still covered")
    func narrowedKey() async throws {
        var parts = MetricsHarness.quietParts()
        parts.liveHeartbeat = .milliseconds(200)
        try await MetricsHarness.run(parts: parts) { harness in
            let key = try await harness.key(.manager, hotels: ["SHA-PD01", "LON-KX02"])
            let named = try await LiveStreamReader.open(harness.base + "/v1/live?hotel=SHA-PD01", key: key)
            let all = try await LiveStreamReader.open(harness.base + "/v1/live", key: key)
            #expect(named.status == 200 && all.status == 200)
            #expect(await eventually(timeout: .seconds(30)) { named.text.contains(": connected") && all.text.contains(": connected") })
            // Narrowed to London (as an operator would, in the access schema).
            let id = try #require(APIKeySecret(parsing: Substring(key))).id
            try await harness.client.query(
                "UPDATE \(unescaped: AccessTables.schema.rawValue).api_keys SET hotels = \(["LON-KX02"]) WHERE id = \(id)", logger: .complaintTest)
            #expect(await eventually(timeout: .seconds(30)) { named.outcome != nil }, "the stream naming SHA-PD01 is still open")
            #expect(named.outcome == "finished")
            // The other carries on, now without Shanghai's updates.
            let heard = all.heartbeats
            #expect(await eventually(timeout: .seconds(30)) { all.heartbeats >= heard + 2 })
            #expect(all.outcome == nil)
            let story = try ComplaintStory(hotel: "SHA-PD01", registeredAt: Date())
            let london = try ComplaintStory(hotel: "LON-KX02", registeredAt: Date())
            try await harness.publish([story, london])
            try await harness.waitForApplied(KPIStageTests.eventCount([story, london]))
            #expect(await eventually(timeout: .seconds(30)) { all.text.contains(london.id.uuidString.lowercased()) })
            #expect(!all.text.contains(story.id.uuidString.lowercased()))
            all.cancel()
            named.cancel()
        }
    }

    @Test("a subscriber whose buffer overflowed is told to resync before anything else")
    func overflowResyncs() async throws {
        try await withTestClient { client in
            // Only the fan-out is used here: the feed is not run.
            let feed = LiveFeed(client: client, channel: "unused", bufferSize: 4, logger: .complaintTest)
            let subscription = try feed.subscribe(keyID: "k")
            let updates = (0..<10).map { _ in LiveUpdate(topic: "received", hotelId: "SHA-PD01", complaintId: UUID(), at: Date()) }
            for update in updates { feed.broadcast(.update(update)) }
            var iterator = subscription.makeAsyncIterator()
            try #require(await iterator.next() == .resync)
            var rest: [LiveFeed.Message] = []
            for _ in 0..<4 { rest.append(await iterator.next() ?? .heartbeat) }
            #expect(rest == updates.suffix(4).map { .update($0) })
            // Nothing lost since: no second resync.
            feed.broadcast(.heartbeat)
            #expect(await iterator.next() == .heartbeat)
            subscription.finish()
            #expect(await iterator.next() == nil)
            #expect(feed.subscriberCount == 0)
        }
    }

    /// The feed keeps every subscriber's continuation, which alone would hold the place of a subscription
    /// nobody reads or finishes (a `/v1/live` response whose body never ran) until a restart; the stream,
    /// once nobody holds it, ends and frees it. With it kept alive elsewhere, this test fails.
    @Test("a subscription dropped unread and unfinished frees its place")
    func droppedSubscriptionFreesItsPlace() async throws {
        try await withTestClient { client in
            let feed = LiveFeed(client: client, channel: "unused", limits: LiveFeed.Limits(perKey: 1, total: 1), logger: .complaintTest)
            for _ in 0..<3 {
                _ = try feed.subscribe(keyID: "k")
                #expect(feed.subscriberCount == 0)
            }
            // One held keeps its place (the limits still hold), also while only its iterator is left.
            var iterator = try feed.subscribe(keyID: "k").makeAsyncIterator()
            #expect(feed.subscriberCount == 1)
            #expect(throws: LiveFeed.TooManyStreams.self) { _ = try feed.subscribe(keyID: "k") }
            feed.broadcast(.heartbeat)
            #expect(await iterator.next() == .heartbeat)
        }
    }

    /// `/v1/live` takes its place before the response head (so a refusal is a 429) and finishes it in the
    /// body, which the server runs only after writing the head: a client gone by then makes that write
    /// fail and the body never runs. The place must still come back, or after `perKey` such drops the key
    /// got 429 too-many-streams until a restart. The handler is held on the metrics schema's `hotels`
    /// table (its scope read) until the client has reset the connection, so the head is written to a
    /// closed channel. (With the subscription kept alive elsewhere, this test fails: the body did not run.)
    @Test("a client gone before the response head does not keep its stream's place")
    func clientGoneBeforeTheHead() async throws {
        var parts = MetricsHarness.quietParts()
        // Streams the check below cancels end at their next heartbeat.
        parts.liveHeartbeat = .milliseconds(200)
        let perKey = 2
        parts.liveLimits = LiveFeed.Limits(perKey: perKey, total: 10)
        try await MetricsHarness.run(parts: parts) { harness in
            let key = try await harness.key(.manager, hotels: ["SHA-PD01"])
            let port = try #require(harness.base.split(separator: ":").last.flatMap { Int($0) })
            let table = "\"\(harness.schema.rawValue)\".hotels"
            for _ in 0...perKey {
                try await Self.dropBeforeHead(port: port, key: key, table: table, client: harness.client)
            }
            // The key has all its places: as many streams as it may have open at once are 200.
            let url = harness.base + "/v1/live?hotel=SHA-PD01"
            var statuses: [Int] = []
            let free = await eventually(timeout: .seconds(15)) {
                var streams: [LiveStreamReader] = []
                defer { for stream in streams { stream.cancel() } }
                for _ in 0..<perKey {
                    guard let stream = try? await LiveStreamReader.open(url, key: key) else { return false }
                    streams.append(stream)
                }
                statuses = streams.map(\.status)
                return statuses.allSatisfy { $0 == 200 }
            }
            #expect(free, "the key's streams were refused after clients went before the head: \(statuses)")
        }
    }

    /// Sends `GET /v1/live` while `table` is locked (the handler waits on it), resets the connection once
    /// the handler waits, then lets it go on.
    static func dropBeforeHead(port: Int, key: String, table: String, client: PostgresClient) async throws {
        try await client.withConnection { connection in
            try await connection.query("BEGIN", logger: .complaintTest)
            do {
                try await connection.query("LOCK TABLE \(unescaped: table) IN ACCESS EXCLUSIVE MODE", logger: .complaintTest)
                let socket = try RawHTTPClient(port: port)
                try socket.send("GET /v1/live?hotel=SHA-PD01 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(key)\r\nAccept: text/event-stream\r\n\r\n")
                let waiting = await eventually(timeout: .seconds(30)) {
                    let rows = try? await client.query(
                        "SELECT count(*)::int FROM pg_locks WHERE relation = to_regclass(\(table)::text) AND NOT granted", logger: .complaintTest)
                    return ((try? await rows?.collect().first?.decode(Int.self)) ?? 0) > 0
                }
                socket.reset()
                try #require(waiting, "the request never reached the handler's scope read")
                try await connection.query("ROLLBACK", logger: .complaintTest)
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: .complaintTest)
                throw error
            }
        }
    }

    /// A `LISTEN` connection sends nothing: when the database's host vanished without a reset, the feed
    /// stayed "listening" for about 15 minutes (the kernel's retransmissions) and streams heard nothing.
    /// It now listens through `withNotifications`, whose round trip (``ListenerHeartbeat``) closes a
    /// connection that does not answer; the feed listens again and tells its streams to resync.
    @Test("the feed listens again, and streams resync, when its LISTEN connection stops answering its round trip")
    func unansweredRoundTripRelistens() async throws {
        try await withTestClient { client in
            var listener = ListenerHeartbeat()
            listener.interval = .milliseconds(50)
            listener.timeout = .milliseconds(300)
            // A server that no longer answers, as a connection to a vanished host behaves.
            listener.query = "SELECT pg_sleep(20)"
            let feed = LiveFeed(
                client: client, channel: "live_heartbeat_\(UUID().uuidString.prefix(8).lowercased())", heartbeat: .seconds(600),
                listenerHeartbeat: listener, logger: .complaintTest)
            let subscription = try feed.subscribe(keyID: "k")
            let received = MutexBox<[LiveFeed.Message]>([])
            let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [feed], logger: .complaintTest))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                tasks.addTask { for await message in subscription { received.withLock { $0.append(message) } } }
                let resynced = await eventually(timeout: .seconds(30)) { received.withLock { $0.contains(.resync) } }
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
                #expect(resynced, "the feed still waits on a connection that does not answer: \(received.withLock { $0 })")
            }
        }
    }

    @Test("streams are told to resync when the LISTEN connection comes back")
    func relistenResyncs() async throws {
        try await MetricsHarness.run { harness in
            try await Self.relisten(base: harness.base, admin: harness.admin, schema: harness.schema.rawValue, client: harness.client)
        }
    }

    static func relisten(base: String, admin: String, schema: String, client: PostgresClient) async throws {
        let stream = try await LiveStreamReader.open(base + "/v1/live", key: admin)
        let connected = await eventually(timeout: .seconds(30)) { stream.text.contains(": connected") }
        #expect(connected)
        // The feed's LISTEN connection: cut it, as a PostgreSQL restart would.
        let channel = FactRecorder.liveChannel(schema: schema)
        let cut = await eventually(timeout: .seconds(30)) { await Self.cutListening(on: channel, client: client) > 0 }
        #expect(cut, "no LISTEN connection on the live channel")
        let resynced = await eventually(timeout: .seconds(30)) { stream.text.contains("event: resync\n") }
        let text = stream.text
        #expect(resynced, "\(text)")
        stream.cancel()
    }
}

extension LiveStreamTests {
    /// Ends the connections listening on `channel` (as a PostgreSQL restart would); how many there were.
    static func cutListening(on channel: String, client: PostgresClient) async -> Int {
        let pattern = "LISTEN %" + channel + "%"
        do {
            let rows = try await client.query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query ILIKE \(pattern)", logger: .complaintTest)
            return try await rows.collect().count
        } catch {
            return 0
        }
    }
}

/// Follows a `/v1/live` response in the background: what has arrived, and how it ended.
final class LiveStreamReader: Sendable {
    let status: Int
    let headers: [String: String]
    private let received = Mutex("")
    /// `finished` (the server ended it properly) or the error that ended it; nil while open.
    private let ending = Mutex<String?>(nil)
    private let reader = Mutex<Task<Void, Never>?>(nil)

    private init(status: Int, headers: [String: String]) {
        self.status = status
        self.headers = headers
    }

    static func open(_ url: String, key: String) async throws -> LiveStreamReader {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Authorization", value: "Bearer \(key)")
        request.headers.add(name: "Accept", value: "text/event-stream")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(600))
        var headers: [String: String] = [:]
        for header in response.headers { headers[header.name.lowercased()] = header.value }
        let stream = LiveStreamReader(status: Int(response.status.code), headers: headers)
        let body = response.body
        let task = Task { await stream.read(body) }
        stream.reader.withLock { $0 = task }
        return stream
    }

    private func read(_ body: HTTPClientResponse.Body) async {
        do {
            for try await chunk in body {
                let text = String(buffer: chunk)
                received.withLock { $0 += text }
            }
            ending.withLock { $0 = "finished" }
        } catch {
            let reason = "\(error)"
            ending.withLock { $0 = reason }
        }
    }

    var text: String { received.withLock { $0 } }
    var outcome: String? { ending.withLock { $0 } }
    var heartbeats: Int { text.components(separatedBy: ": heartbeat\n").count - 1 }

    /// Stops reading (the connection goes).
    func cancel() { reader.withLock { $0?.cancel() } }
}

/// A TCP client that sends a request and leaves by resetting the connection (`SO_LINGER` 0), as a
/// browser tab closed or a proxy that gave up does: what `LiveStreamReader` cannot do before the head.
struct RawHTTPClient: ~Copyable {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private let descriptor: Int32

    init(port: Int) throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard connected else {
            close(descriptor)
            throw Failure(description: "connect to port \(port): errno \(errno)")
        }
        self.descriptor = descriptor
    }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let written = bytes[sent...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { throw Failure(description: "send: errno \(errno)") }
            sent += written
        }
    }

    /// Closes with a reset: the server's next read fails at once (a plain close would only half-close it).
    consuming func reset() {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(descriptor, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close(descriptor)
        discard self
    }

    deinit { close(descriptor) }
}
