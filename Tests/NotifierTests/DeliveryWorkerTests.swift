import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import Logging
@testable import Notifier
import PostgresNIO
import RdKafkaTestKit
import ServiceLifecycle
import Testing

/// The delivery worker on PostgreSQL with a local receiver: retries and give-up with a receipt for each
/// attempt, and a worker killed between the call and recording it.
@Suite("Notification delivery worker", .timeLimit(.minutes(2)))
struct DeliveryWorkerTests {
    struct SimulatedCrash: Error {}

    static let yaml = """
        endpoints:
          hook: {channel: webhook, url: "${HOOK_URL}", secret: whsec_worker, timeoutSeconds: 2}
        rules:
          - {name: r, on: [sla.breached], to: ["endpoint:hook"], template: sla_breached_staff}
        """

    /// A fresh notifier schema (runtime tables and the notifier's own), a receiver, and a performer for endpoints
    /// whose pacer keeps its log in that schema, as a replica's does (``replica(of:client:schema:)`` makes another).
    /// `yaml` may name `${BASE}`, the receiver's address.
    static func run(
        yaml: String = Self.yaml, _ body: @Sendable (PostgresClient, SchemaName, RecordingReceiver, DeliveryPerformer) async throws -> Void
    ) async throws {
        let receiver = RecordingReceiver()
        try await withLoopbackServer(receiver.router) { base in
            let rules = try NotifierFixtures.rules(yaml, environment: ["HOOK_URL": base + "/hook", "BASE": base])
            let service = RedressService.notifier.isolated()
            let templates = try NotifierFixtures.templates()
            try await withTestClient { client in
                let performer = DeliveryPerformer(
                    kind: .endpoint, rules: LiveConfiguration(name: "rules", fixed: rules), templates: templates,
                    channels: [.webhook: WebhookChannel(), .wecom: RobotChannel(), .dingtalk: RobotChannel(), .slack: RobotChannel()], guests: nil,
                    surveySecret: nil, pacer: EndpointPacer(client: client, schema: service.schema))
                do {
                    _ = try await Migrator(client: client, logger: .complaintTest).apply(try service.migrations())
                    try await body(client, service.schema, receiver, performer)
                } catch {
                    try? await dropSchema(service.schema, client: client)
                    throw error
                }
                try await dropSchema(service.schema, client: client)
            }
        }
    }

    /// The same performer in another notifier process: a pacer of its own, sharing the schema's log.
    static func replica(of performer: DeliveryPerformer, client: PostgresClient, schema: SchemaName) -> DeliveryPerformer {
        var replica = performer
        replica.pacer = EndpointPacer(client: client, schema: schema)
        return replica
    }

    /// Plans `intent`, due now (or at `dueAt`, for a worker whose database clock differs from the server's).
    static func record(
        _ intent: NotificationIntent, attempts: Int, kind: DeliveryKind = .endpoint, dueAt: Date? = nil, schema: SchemaName, client: PostgresClient
    ) async throws {
        try await client.transaction(schema: schema, logger: .complaintTest) { connection in
            _ = try await WorkQueue(schema: schema).enqueue(
                kind: kind.rawValue, idempotencyKey: intent.idempotencyKey, payload: intent, maximumAttempts: attempts,
                dueAt: dueAt, on: connection, logger: .complaintTest)
            try await DeliveryLedger.recordPlanned(intent, dueAt: nil, on: connection, logger: .complaintTest)
        }
    }

    static func worker(
        _ performer: DeliveryPerformer, schema: SchemaName, client: PostgresClient, lease: Duration = .seconds(30), crash: Bool = false,
        concurrency: Int = WorkQueueWorker.Configuration().concurrency, connectionsUseSchema: Bool = false
    ) -> WorkQueueWorker {
        var configuration = WorkQueueWorker.Configuration()
        configuration.connectionsUseSchema = connectionsUseSchema
        configuration.lease = lease
        configuration.concurrency = concurrency
        configuration.pollInterval = .milliseconds(100)
        configuration.retry.initialDelay = .milliseconds(20)
        configuration.retry.maximumDelay = .milliseconds(50)
        var crashPoints = WorkQueueWorker.CrashPoints()
        if crash { crashPoints.afterPerform = { _ in throw SimulatedCrash() } }
        return WorkQueueWorker(performer: performer, schema: schema, client: client, configuration: configuration, crashPoints: crashPoints, logger: .complaintTest)
    }

    /// The receipts in the outbox, oldest first.
    static func receipts(schema: SchemaName, client: PostgresClient) async throws -> [NotificationOutcome] {
        let rows = try await client.query(PostgresQuery(unsafeSQL: "SELECT value FROM \(schema).outbox ORDER BY id"), logger: .complaintTest).collect()
        return try rows.map { row in
            let bytes = try row.decode(ByteBuffer.self)
            return try Topics.notifications.decode(Array(bytes.readableBytesView)).data
        }
    }

    static func delivery(_ id: UUID, schema: SchemaName, client: PostgresClient) async throws -> (status: String, attempts: Int, error: String?) {
        let rows = try await client.query(
            PostgresQuery(unsafeSQL: "SELECT status, attempts, last_error FROM \(schema).deliveries WHERE notification_id = '\(id.uuidString.lowercased())'"),
            logger: .complaintTest).collect()
        return try rows[0].decode((String, Int, String?).self)
    }

    /// Plans `intent` with `attempts`, runs a worker until `count` receipts are in the outbox (or 20 s), and returns them.
    static func settle(
        _ intent: NotificationIntent, attempts: Int, receipts count: Int, performer: DeliveryPerformer, schema: SchemaName, client: PostgresClient
    ) async throws -> [NotificationOutcome] {
        try await Self.record(intent, attempts: attempts, schema: schema, client: client)
        try await withRunningServices([Self.worker(performer, schema: schema, client: client)]) {
            let settled = try await eventually(timeout: .seconds(20)) { try await Self.receipts(schema: schema, client: client).count == count }
            #expect(settled)
        }
        return try await Self.receipts(schema: schema, client: client)
    }

    static func breachIntent() -> NotificationIntent {
        var intent = NotifierFixtures.intent(template: "sla_breached_staff", trigger: "sla.breached")
        intent.rule = "r"
        intent.notificationID = NotificationIntent.notificationID(forKey: intent.idempotencyKey)
        return intent
    }

    @Test("a failing receiver: a receipt per attempt, retriable ones marked so, then given up with the reason")
    func retriesThenGivesUp() async throws {
        try await Self.run { client, schema, receiver, performer in
            receiver.script(.status(503), .status(429, retryAfter: "0"), .status(502))
            let intent = Self.breachIntent()
            let receipts = try await Self.settle(intent, attempts: 3, receipts: 3, performer: performer, schema: schema, client: client)
            #expect(receipts.map(\.kind) == [.failed, .failed, .givenUp])
            #expect(receipts.map(\.attempts) == [1, 2, 3])
            #expect(Set(receipts.map(\.notificationID)) == [intent.notificationID])
            guard receipts.count == 3, case .failed(let first) = receipts[0].status, case .givenUp(let last) = receipts[2].status else {
                Issue.record("unexpected statuses")
                return
            }
            #expect(first.code == "http_503" && first.isRetriable)
            #expect(last.code == "http_502" && !last.isRetriable)
            #expect(last.message.hasPrefix("gave up after 3 attempts"))
            #expect(receipts.allSatisfy { $0.channel == .webhook && $0.causeEventID == intent.causeEventID })
            let row = try await Self.delivery(intent.notificationID, schema: schema, client: client)
            #expect(row.status == "given_up" && row.attempts == 3)
            #expect(receiver.requests.count == 3)
            #expect(Set(receiver.requests.map { $0.headers["Idempotency-Key"] ?? "" }) == [intent.idempotencyKey])
        }
    }

    @Test("a receiver that is down (connection refused) fails its attempt at once, not after timeoutSeconds; the worker's next message goes promptly")
    func refusedConnectionFailsAtOnce() async throws {
        // Held for the whole test, so the live receiver (or another test's) cannot be given the same port.
        let down = try RefusingLoopbackPort()
        let yaml = """
            endpoints:
              down: {channel: webhook, url: "http://127.0.0.1:\(down.port)/hook", secret: whsec_down, timeoutSeconds: 10}
              hook: {channel: webhook, url: "${HOOK_URL}", secret: whsec_worker, timeoutSeconds: 10}
            rules:
              - {name: r, on: [sla.breached], to: ["endpoint:hook"], template: sla_breached_staff}
            """
        try await Self.run(yaml: yaml) { client, schema, receiver, performer in
            var refused = NotifierFixtures.intent(template: "sla_breached_staff", endpoint: "down", trigger: "sla.breached")
            refused.rule = "r"
            refused.notificationID = NotificationIntent.notificationID(forKey: refused.idempotencyKey)
            let live = Self.breachIntent()
            // The refused one first, and one call at a time: the live receiver's message waits behind it.
            try await Self.record(refused, attempts: 2, schema: schema, client: client)
            try await Self.record(live, attempts: 1, schema: schema, client: client)
            let start = ContinuousClock.now
            try await withRunningServices([Self.worker(performer, schema: schema, client: client, concurrency: 1)]) {
                let settled = try await eventually(timeout: .seconds(40)) { try await Self.receipts(schema: schema, client: client).count == 3 }
                #expect(settled)
            }
            let elapsed = ContinuousClock.now - start
            // Before, AsyncHTTPClient tried to connect again until the 10 s deadline: 20 s for the two attempts.
            #expect(elapsed < .seconds(8), "two refused attempts and a delivery took \(elapsed)")
            let receipts = try await Self.receipts(schema: schema, client: client)
            let mine = receipts.filter { $0.notificationID == refused.notificationID }
            guard mine.count == 2, case .failed(let first) = mine[0].status, case .givenUp(let last) = mine[1].status else {
                Issue.record("unexpected receipts: \(receipts.map(\.status))")
                return
            }
            #expect(first.code == "connection" && first.isRetriable, "retried by the notifier's own backoff, as before")
            #expect(last.code == "connection" && mine.map(\.attempts) == [1, 2])
            #expect(receipts.filter { $0.notificationID == live.notificationID }.map(\.kind) == [.delivered])
            #expect(receiver.requests.count == 1)
        }
        withExtendedLifetime(down) {}
    }

    @Test("a 4xx is given up at once")
    func permanentFailure() async throws {
        try await Self.run { client, schema, receiver, performer in
            receiver.script(.status(410, body: "gone"))
            let intent = Self.breachIntent()
            try await Self.record(intent, attempts: 5, schema: schema, client: client)
            try await withRunningServices([Self.worker(performer, schema: schema, client: client)]) {
                _ = try await eventually(timeout: .seconds(20)) { try await Self.receipts(schema: schema, client: client).count == 1 }
            }
            let receipts = try await Self.receipts(schema: schema, client: client)
            #expect(receipts.map(\.kind) == [.givenUp])
            #expect(receiver.requests.count == 1)
        }
    }

    /// A redirect is a wrong URL: its attempts are failed and retried (their receipts say where it points),
    /// never given up at once, never `delivered` by a call that reached someone else.
    @Test("a redirect: failed attempts, retriable, naming where it points; delivered once the receiver answers, nothing sent to the target")
    func redirectRetried() async throws {
        let target = RecordingReceiver()
        try await withLoopbackServer(target.router) { targetBase in
            try await Self.run { client, schema, receiver, performer in
                receiver.script(.redirect(301, to: targetBase + "/moved"), .redirect(308, to: targetBase + "/moved"))
                let intent = Self.breachIntent()
                let receipts = try await Self.settle(intent, attempts: 5, receipts: 3, performer: performer, schema: schema, client: client)
                #expect(receipts.map(\.kind) == [.failed, .failed, .delivered])
                guard receipts.count == 3, case .failed(let first) = receipts[0].status, case .failed(let second) = receipts[1].status else {
                    Issue.record("unexpected receipts: \(receipts.map(\.status))")
                    return
                }
                #expect(first.code == "http_301" && first.isRetriable)
                #expect(first.message.contains("redirected to \(targetBase)/moved"), "\(first.message)")
                #expect(second.code == "http_308" && second.isRetriable)
                #expect(try await Self.delivery(intent.notificationID, schema: schema, client: client).status == "delivered")
                #expect(receiver.requests.count == 3)
            }
            #expect(target.requests.isEmpty)
        }
    }

    @Test("killed between the call and recording it: the call is repeated with the same key, one delivered receipt")
    func crashBetweenCallAndOutcome() async throws {
        try await Self.run { client, schema, receiver, performer in
            let intent = Self.breachIntent()
            try await Self.record(intent, attempts: 5, schema: schema, client: client)
            let dying = Self.worker(performer, schema: schema, client: client, lease: .milliseconds(500), crash: true)
            let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [dying], gracefulShutdownSignals: [], logger: .complaintTest))
            await #expect(throws: SimulatedCrash.self) { try await group.run() }
            #expect(receiver.requests.count == 1, "the call was made")
            #expect(try await Self.receipts(schema: schema, client: client).isEmpty, "its outcome was never recorded")

            try await withRunningServices([Self.worker(performer, schema: schema, client: client)]) {
                let done = try await eventually(timeout: .seconds(20)) { try await Self.receipts(schema: schema, client: client).count == 1 }
                #expect(done)
            }
            let keys = receiver.requests.map { $0.headers["Idempotency-Key"] ?? "" }
            #expect(keys == [intent.idempotencyKey, intent.idempotencyKey], "the same key twice, never another")
            #expect(Set(receiver.requests.map { $0.json["id"] as? String ?? "" }) == [intent.notificationID.uuidString.lowercased()])
            let receipts = try await Self.receipts(schema: schema, client: client)
            #expect(receipts.map(\.kind) == [.delivered])
            #expect(receipts.first?.attempts == 2)
            #expect(try await Self.delivery(intent.notificationID, schema: schema, client: client).status == "delivered")
        }
    }
}
