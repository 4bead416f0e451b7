import Access
import AsyncHTTPClient
import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Hummingbird
import Foundation
import Intake
import Logging
import NIOCore
import NIOHTTP1
import PostgresNIO
import RdKafka
import RdKafkaTestKit
import ServiceLifecycle
import Synchronization

/// A real intake process in the test: its StageRuntime on a fresh schema and fresh topics, HTTP on
/// a loopback port, Kafka embedded (or `KAFKA_BROKERS`), PostgreSQL from ``TestDatabase``.
struct IntakeHarness: Sendable {
    typealias Reply = HTTPReply

    let base: String
    let client: PostgresClient
    let schema: SchemaName
    let topics: IntakeTopics
    let kafka: KafkaTestEnvironment
    let keys: APIKeyStore
    /// An admin key (all hotels).
    let admin: String

    static let hotelA = "SHA-PD01"
    static let hotelB = "BJS-CY02"

    static func run(
        configure: @Sendable (inout IntakeConfiguration) -> Void = { _ in },
        access: @Sendable (inout AccessConfiguration) -> Void = { _ in },
        settings adjust: @Sendable (inout ServiceSettings) -> Void = { _ in },
        _ body: @Sendable (IntakeHarness) async throws -> Void
    ) async throws {
        let kafka = try KafkaTestEnvironment()
        let prefix = "t\(UUID().uuidString.prefix(8).lowercased())."
        let topics = IntakeTopics().prefixed(prefix)
        for name in [topics.submitted.name, topics.received.name, topics.updated.name, topics.classified.name,
                     topics.assigned.name, topics.deadLetter.name] {
            try await kafka.createTopic(name, partitions: 3)
        }
        let database = try await TestDatabase.shared.configuration()
        let service = RedressService.intake.isolated()
        let schema = service.schema
        var settings = ServiceSettings.forTests(kafkaBrokers: kafka.bootstrapServers, databaseURL: database.url)
        access(&settings.access)
        adjust(&settings)
        var configuration = IntakeConfiguration(guestKeySecret: "test-guest-key-secret-0123456789")
        configure(&configuration)
        configuration.topics = topics
        let runtime = IntakeService.runtime(service: service, settings: settings, configuration: configuration, logger: .complaintTest)

        try await withIsolatedStage(runtime) { base, client in
            let (keys, admin) = try await APIKeyStore.forTests(client: client)
            try await body(IntakeHarness(base: base, client: client, schema: schema, topics: topics, kafka: kafka, keys: keys, admin: admin))
        }
    }

    /// A new key of `role` for `hotels`.
    func key(_ role: AccessRole, hotels: [String] = [hotelA], name: String? = nil, rate: Int? = nil) async throws -> String {
        try await keys.create(
            name: name ?? "\(role.rawValue)-\(UUID().uuidString.prefix(6).lowercased())", role: role, hotels: hotels,
            ratePerSecond: rate, client: client, logger: .complaintTest
        ).key.description
    }

    func request(
        _ method: HTTPMethod, _ path: String, key: String?, body: String? = nil,
        contentType: String? = "application/json", headers extra: [(String, String)] = []
    ) async throws -> Reply {
        try await plainRequest(method, base + path, key: key, body: body, contentType: contentType, headers: extra)
    }

    /// Submits a complaint (HTTP) and returns its id.
    @discardableResult
    func submit(_ submission: String, key: String? = nil) async throws -> (status: Int, id: String) {
        let reply = try await request(.POST, "/v1/complaints", key: key ?? admin, body: submission)
        return (reply.status, reply.json["id"] as? String ?? "")
    }

    /// The complaint as JSON text with `hotelId`, `externalId`, `text` and `vip` set.
    static func submission(
        hotel: String = hotelA, source: String = "opera_pms", externalID: String = UUID().uuidString.lowercased(),
        text: String = "1208房间的空调不制冷，房间很热。", channel: String = "front_desk", vip: Bool = false
    ) -> String {
        """
        {"hotelId":"\(hotel)","source":"\(source)","externalId":"\(externalID)","channel":"\(channel)",
         "reportedAt":"2026-11-24T08:00:00Z","text":"\(text)","language":"zh-CN",
         "guest":{"name":"李伟","roomNumber":"1208","phone":"+8613800138000","email":"li.wei@example.com",
                  "loyaltyId":"GC-2210987","vip":\(vip),"preferredLanguage":"zh-CN"},
         "reporter":{"kind":"staff","id":"fd-01","name":"Front desk"}}
        """
    }

    /// Rows of `intake.complaints` for `externalID`.
    func complaintCount(externalID: String) async throws -> Int {
        let table = "\(schema).complaints"
        let rows = try await client.query(
            "SELECT count(*)::int FROM \(unescaped: table) WHERE external_id = \(externalID)", logger: .complaintTest).collect()
        return try rows.first?.decode(Int.self) ?? 0
    }

    /// Empties intake's inbox, as retention does to marks older than the inbox horizon.
    func forgetProcessedEvents() async throws {
        let table = "\(schema).processed_events"
        try await client.query("DELETE FROM \(unescaped: table)", logger: .complaintTest)
    }

    /// Consumes `count` messages of `topic` from the beginning.
    func consume(_ topic: String, count: Int, timeout: Duration = .seconds(90)) async throws -> [KafkaConsumerMessage] {
        let consumer = try KafkaConsumer(configuration: kafka.consumerConfiguration(topics: [topic]), logger: kafka.logger)
        return try await withRunningServices([consumer]) { try await consumer.collect(count, timeout: timeout) }
    }
}

/// Sends `body` with `Transfer-Encoding: chunked` (no Content-Length), in 4 KiB chunks.
func chunkedRequest(_ method: HTTPMethod, _ url: String, key: String, body: String) async throws -> IntakeHarness.Reply {
    var request = HTTPClientRequest(url: url)
    request.method = method
    request.headers.add(name: "Authorization", value: "Bearer \(key)")
    request.headers.add(name: "Content-Type", value: "application/json")
    let bytes = Array(body.utf8)
    let chunks = stride(from: 0, to: bytes.count, by: 4096).map { ByteBuffer(bytes: bytes[$0..<min($0 + 4096, bytes.count)]) }
    let stream = AsyncStream<ByteBuffer> { continuation in
        for chunk in chunks { continuation.yield(chunk) }
        continuation.finish()
    }
    request.body = .stream(stream, length: .unknown)
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
    let reply = try await response.body.collect(upTo: 4 * 1024 * 1024)
    var headers: [String: String] = [:]
    for header in response.headers { headers[header.name.lowercased()] = header.value }
    return HTTPReply(status: Int(response.status.code), headers: headers, body: String(buffer: reply))
}

/// Serves `api` alone (no Kafka, no runtime) on a loopback port while `body` runs, behind the
/// middleware every service's router has.
func withHTTPServer(_ api: IntakeAPI, _ body: @Sendable (String) async throws -> Void) async throws {
    let router = Router(context: RedressRequestContext.self)
    router.add(middleware: ProblemMiddleware())
    api.addRoutes(to: router)
    let port = Mutex(0)
    let application = Application(
        router: router, configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { channel in port.withLock { $0 = channel.localAddress?.port ?? 0 } }, logger: .complaintTest)
    let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [application], logger: .complaintTest))
    try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        let listening = try await withTimeout(.seconds(30)) {
            while port.withLock({ $0 }) == 0 { try await Task.sleep(for: .milliseconds(20)) }
            return port.withLock { $0 }
        }
        do {
            try await body("http://127.0.0.1:\(listening)")
        } catch {
            await group.triggerGracefulShutdown()
            throw error
        }
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
    }
}

extension IntakeAPI {
    /// Intake's API over `client` on `schema`, authenticating against the access schema, as the runtime wires it.
    static func standalone(
        _ configuration: IntakeConfiguration, client: PostgresClient, schema: SchemaName, databaseTimeout: Duration = .seconds(5)
    ) -> IntakeAPI {
        let database = DatabaseGuard(timeout: databaseTimeout, logger: .complaintTest)
        let authentication = AuthenticationMiddleware(
            keys: APIKeyStore(cacheLifetime: .zero), limiter: RateLimiter(defaultRate: 50), client: client, database: database,
            logger: .complaintTest)
        return IntakeAPI(
            configuration: configuration,
            store: StageStore(client: client, schema: schema, logger: .complaintTest).boundingStatements(by: databaseTimeout), database: database,
            authentication: authentication)
    }
}
