import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import EmbeddedDefault
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import PostgresNIO
import RdKafkaTestKit
import ServiceLifecycle
import Synchronization
import Testing

/// The readiness `postgres` check leased from the stage's pool: a burst holding every connection made
/// `SELECT 1` wait past the deadline on every replica at once, all unready together. It now runs on a
/// connection of its own, and must still fail when the server is really gone.
@Suite("Readiness connection", .timeLimit(.minutes(3)), .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/curl"), "curl is not installed"))
struct ReadinessConnectionTests {
    /// Holds one connection of the stage's pool until `release` is signalled.
    final class PoolHolder: Service {
        let client: PostgresClient
        let held: Wakeup
        let release: Wakeup
        init(client: PostgresClient, held: Wakeup, release: Wakeup) {
            self.client = client
            self.held = held
            self.release = release
        }
        func run() async throws {
            try await client.withConnection { _ in
                held.signal()
                await withGracefulShutdownHandler {
                    await release.wait(timeout: .seconds(120))
                } onGracefulShutdown: {
                    self.release.signal()
                }
            }
        }
    }

    /// Runs `runtime` until `body` returns; the HTTP base URL for `body`.
    static func running(_ runtime: StageRuntime, _ body: (String) async throws -> Void) async throws {
        var runtime = runtime
        let port = Mutex(0)
        runtime.onServerRunning = { value in port.withLock { $0 = value } }
        try await withRunning(try runtime.makeServiceGroup()) {
            let listening = try await withTimeout(.seconds(30)) {
                while port.withLock({ $0 }) == 0 { try await Task.sleep(for: .milliseconds(20)) }
                return port.withLock { $0 }
            }
            try await body("http://127.0.0.1:\(listening)")
        }
    }

    @Test("a pool whose every connection is held leaves the stage ready, answered promptly")
    func busyPoolIsReady() async throws {
        let kafka = try KafkaTestEnvironment()
        let database = try await TestDatabase.shared.configuration()
        var (runtime, service, _, _) = try await StageRuntimeTests.stage(kafka, database: database)
        // One connection, held by the test's service below. Nothing published: the relay's listener
        // would keep a connection of its own for good (production pools have at least 10).
        runtime.settings.databasePoolSize = 1
        runtime.publishes = false
        let held = Wakeup()
        let release = Wakeup()
        runtime.backgroundServices = [BackgroundService(name: "pool holder") { resources in
            PoolHolder(client: resources.client, held: held, release: release)
        }]
        let health = runtime.health
        do {
            try await Self.running(runtime) { base in
                // Started after the migrations: the pool's only connection is held from here on.
                await held.wait(timeout: .seconds(60))
                #expect(health.problem == nil, "\(health.problem ?? "")")
                #expect(health.running.contains("pool holder"))
                let started = ContinuousClock.now
                let answer = try await StageRuntimeTests.get("\(base)/health/ready")
                let took = ContinuousClock.now - started
                // The old check waited for a lease until the 3 s deadline and answered 503.
                #expect(answer.status == 200, "\(answer) after \(took)")
                release.signal()
            }
        } catch {
            release.signal()
            try? await withClient(database) { client in try await dropSchema(service.schema, client: client) }
            throw error
        }
        try await withClient(database) { client in try await dropSchema(service.schema, client: client) }
    }

    /// Probes of `/health/ready` and `/health/dependencies` may check at once: they share one connection,
    /// which stays open between checks and is closed when the stage stops.
    @Test("concurrent checks share one connection, kept between checks and closed on shutdown")
    func oneConnection() async throws {
        var database = try await TestDatabase.shared.configuration()
        let name = "readiness-\(UUID().uuidString.prefix(8).lowercased())"
        database.applicationName = name
        let connection = ReadinessConnection(configuration: try database.makeConnectionConfiguration(), logger: .complaintTest)
        let running = Task { try await connection.run() }
        defer { running.cancel() }
        try await withTestClient { client in
            let count = { try await client.scalar("SELECT count(*)::int FROM pg_stat_activity WHERE application_name = \(name)", as: Int.self) }
            for _ in 0..<3 {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<8 { group.addTask { try await connection.check(timeout: .seconds(10)) } }
                    try await group.waitForAll()
                }
                #expect(try await count() == 1)
            }
            running.cancel()
            try await running.value
            let closed = try await eventually(timeout: .seconds(30)) { try await count() == 0 }
            #expect(closed, "the connection outlived its service")
        }
    }

    /// A server that takes the connection and never answers (a vanished host, a hung server): the check
    /// fails within its timeout, not PostgresNIO's 10 s connect timeout nor the kernel's retransmissions.
    @Test("a server that never answers fails the check within its timeout, every time")
    func silentServerFailsPromptly() async throws {
        // Listening, never accepting: the kernel completes the handshake and nothing ever answers.
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #expect(descriptor >= 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 && listen(descriptor, 8) == 0 && getsockname(descriptor, $0, &length) == 0 }
        }
        try #require(bound)
        let port = Int(UInt16(bigEndian: address.sin_port))
        let silent = DatabaseConfiguration(endpoint: .tcp(host: "127.0.0.1", port: port), username: "nobody", tlsMode: .disable)
        let connection = ReadinessConnection(configuration: try silent.makeConnectionConfiguration(), logger: .complaintTest)
        for _ in 0..<2 {
            let started = ContinuousClock.now
            await #expect(throws: (any Error).self) { try await connection.check(timeout: .milliseconds(500)) }
            let took = ContinuousClock.now - started
            #expect(took < .seconds(5), "the check took \(took)")
        }
    }

    /// A host that vanishes with the check's `SELECT 1` in flight (no RST, packets dropped): the query
    /// cannot be cancelled, so the check closes its connection at the deadline (``withDeadline``'s
    /// `onDeadline`) and fails within its timeout, not when the kernel gives up; the next connects anew.
    @Test("a query in flight to a host that vanished fails the check within its timeout; the next check connects anew")
    func vanishedHostFailsPromptly() async throws {
        let database = try await TestDatabase.shared.configuration()
        let proxy = try DatabaseProxy(to: database.endpoint)
        defer { proxy.stop() }
        let connection = ReadinessConnection(
            configuration: try proxy.configuration(from: database).makeConnectionConfiguration(), logger: .complaintTest)
        let running = Task { try await connection.run() }
        defer { running.cancel() }
        try await connection.check(timeout: .seconds(10))
        proxy.stall()
        // Should the connection not be closed, the query would wait for good: end it after 15 s instead.
        let fallback = Task {
            try await Task.sleep(for: .seconds(15))
            proxy.stop()
        }
        defer { fallback.cancel() }
        let started = ContinuousClock.now
        await #expect(throws: (any Error).self) { try await connection.check(timeout: .milliseconds(500)) }
        let took = ContinuousClock.now - started
        #expect(took < .seconds(5), "the check took \(took)")
        try await connection.check(timeout: .seconds(10))
        #expect(proxy.accepted == 2)
    }

    /// `/health/ready` and `/health/dependencies` checking at once share one connect: the first one's
    /// deadline must not end it for the second, which waits longer and sees it through.
    @Test("a check that gives up on a slow connect leaves it running for another check waiting on it")
    func sharedConnectOutlivesOneDeadline() async throws {
        let database = try await TestDatabase.shared.configuration()
        let arrived = Wakeup()
        let release = DispatchSemaphore(value: 0)
        let first = Mutex(true)
        // The first connection's first message is held until released: a connect that takes long.
        let proxy = try DatabaseProxy(to: database.endpoint, observer: {
            let holds = first.withLock { value in defer { value = false }; return value }
            let pending = Mutex(holds)
            return { _ in
                guard pending.withLock({ value in defer { value = false }; return value }) else { return }
                arrived.signal()
                _ = release.wait(timeout: .now() + 30)
            }
        })
        defer {
            release.signal()
            proxy.stop()
        }
        let connection = ReadinessConnection(
            configuration: try proxy.configuration(from: database).makeConnectionConfiguration(), logger: .complaintTest)
        let running = Task { try await connection.run() }
        defer { running.cancel() }
        let short = Task { try await connection.check(timeout: .seconds(1)) }
        await arrived.wait(timeout: .seconds(30))
        let long = Task { try await connection.check(timeout: .seconds(30)) }
        // The short check gives up while the connect is held.
        await #expect(throws: (any Error).self) { try await short.value }
        release.signal()
        // The old check's deadline cancelled the shared connect: the long one failed with it.
        await #expect(throws: Never.self) { try await long.value }
        #expect(proxy.accepted == 1)
    }

    /// The check's own connection outlives the server: it must notice, and connecting anew must fail.
    @Test("with the database stopped the stage turns unready, naming postgres; ready again once it is back",
          .enabled(if: TestEnvironment.hasLocalPostgres))
    func stoppedDatabaseIsNotReady() async throws {
        let kafka = try KafkaTestEnvironment()
        try await withEmbeddedPostgres(configuration: .forTesting, logger: .complaintTest) { server async throws in
            let database = try await server.databaseConfiguration
            var (runtime, _, _, _) = try await StageRuntimeTests.stage(kafka, database: database)
            runtime.readinessIncludesKafka = false
            try await Self.running(runtime) { base in
                let ready = try await eventually(timeout: .seconds(60)) { try await StageRuntimeTests.get("\(base)/health/ready").status == 200 }
                #expect(ready)
                try await server.stop()
                var answer = (status: 0, body: "")
                let unready = try await eventually(timeout: .seconds(30)) {
                    answer = try await StageRuntimeTests.get("\(base)/health/ready")
                    return answer.status == 503 && answer.body.contains("postgres")
                }
                #expect(unready, "\(answer)")
                try await server.start()
                let back = try await eventually(timeout: .seconds(60)) { try await StageRuntimeTests.get("\(base)/health/ready").status == 200 }
                #expect(back, "the check did not connect again")
            }
        }
    }
}
