import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import Logging
@testable import Notifier
import PostgresNIO
import RdKafkaTestKit
import Synchronization
import Testing

/// A delivery that outlives its lease makes no call: another worker has claimed the item by then and
/// makes it (an e-mail or a webhook sent twice).
@Suite("Delivery lease", .timeLimit(.minutes(2)))
struct DeliveryLeaseTests {
    /// A paced webhook (its pacing statement locks the endpoint's row) with a 1 s timeout: a call needs 2 s.
    static let yaml = """
        endpoints:
          hook: {channel: webhook, url: "${HOOK_URL}", secret: whsec_worker, timeoutSeconds: 1, rateLimit: 100/min}
        rules:
          - {name: r, on: [sla.breached], to: ["endpoint:hook"], template: sla_breached_staff}
        """

    static func worker(_ performer: DeliveryPerformer, lease: Duration, schema: SchemaName, client: PostgresClient) -> WorkQueueWorker {
        var configuration = WorkQueueWorker.Configuration()
        configuration.lease = lease
        configuration.leaseMargin = .milliseconds(500)
        configuration.leaseDeferral = .milliseconds(100)
        configuration.pollInterval = .milliseconds(100)
        configuration.retry.initialDelay = .milliseconds(20)
        configuration.retry.maximumDelay = .milliseconds(50)
        return WorkQueueWorker(performer: performer, schema: schema, client: client, configuration: configuration, logger: .complaintTest)
    }

    /// How many of `schema`'s pacing statements wait for a lock.
    static func pacingWaiters(schema: SchemaName, client: PostgresClient) async throws -> Int {
        try await client.query("""
            SELECT count(*)::int FROM pg_stat_activity
            WHERE wait_event_type = 'Lock' AND position(\(schema.rawValue + ".endpoint_pace(") IN query) > 0
            """, logger: .complaintTest).collect()[0].decode(Int.self)
    }

    /// The database pauses the first worker's pacing statement (here: the endpoint's row, held) past its
    /// 4 s lease; a second worker claims the item then and waits too; the pause ends. Before, both called
    /// the receiver: the first one's lease had run out before its call. Now the first defers without a
    /// call, and the second, whose lease has room for the call, makes the one call.
    @Test("a delivery held past its lease by the database makes no call: the worker that re-claimed it makes the only one")
    func heldPastTheLeaseMakesNoCall() async throws {
        try await DeliveryWorkerTests.run(yaml: Self.yaml) { client, schema, receiver, performer in
            var first = performer
            first.pacer = EndpointPacer(client: client, schema: schema, lockTimeout: .seconds(60))
            var second = performer
            second.pacer = EndpointPacer(client: client, schema: schema, lockTimeout: .seconds(60))
            let intent = DeliveryWorkerTests.breachIntent()
            try await DeliveryWorkerTests.record(intent, attempts: 3, schema: schema, client: client)
            try await client.query(PostgresQuery(unsafeSQL: "INSERT INTO \(schema).endpoint_pacing (endpoint) VALUES ('hook')"), logger: .complaintTest)
            let lease: Duration = .seconds(4)
            try await client.withConnection { frozen in
                try await frozen.query("BEGIN", logger: .complaintTest)
                try await frozen.query(
                    PostgresQuery(unsafeSQL: "SELECT * FROM \(schema).endpoint_pacing WHERE endpoint = 'hook' FOR UPDATE"), logger: .complaintTest)
                do {
                    try await withRunningServices([
                        Self.worker(first, lease: lease, schema: schema, client: client),
                        Self.worker(second, lease: lease, schema: schema, client: client),
                    ]) {
                        // One worker's statement waits at once; the other's once the lease ran out and it claimed the item.
                        let both = try await eventually(timeout: .seconds(30)) {
                            try await Self.pacingWaiters(schema: schema, client: client) == 2
                        }
                        try await frozen.query("ROLLBACK", logger: .complaintTest)
                        #expect(both, "two workers never waited for the endpoint's row")
                        let delivered = try await eventually(timeout: .seconds(20)) {
                            try await DeliveryWorkerTests.delivery(intent.notificationID, schema: schema, client: client).status == "delivered"
                        }
                        #expect(delivered)
                    }
                } catch {
                    try? await frozen.query("ROLLBACK", logger: .complaintTest)
                    throw error
                }
            }
            // The workers have stopped, their calls in hand finished: every call the receiver will see is in.
            #expect(receiver.requests.count == 1, "the receiver got \(receiver.requests.count) calls")
            let receipts = try await DeliveryWorkerTests.receipts(schema: schema, client: client)
            #expect(receipts.count == 1 && receipts.first?.status == .delivered, "\(receipts)")
        }
    }

    /// `work`'s outcome, or `nil` if it has not ended within `limit`: a statement sent through a stalled
    /// connection is never answered and its task cannot be cancelled, so it is left running, unstructured.
    static func outcome<Value: Sendable>(within limit: Duration, _ work: @escaping @Sendable () async throws -> Value) async -> Result<Value, any Error>? {
        let waiting = Mutex<CheckedContinuation<Result<Value, any Error>?, Never>?>(nil)
        let finish: @Sendable (Result<Value, any Error>?) -> Void = { outcome in waiting.withLock { $0.take() }?.resume(returning: outcome) }
        let timer = Mutex<Task<Void, Never>?>(nil)
        let outcome = await withCheckedContinuation { continuation in
            waiting.withLock { $0 = continuation }
            Task { do { finish(.success(try await work())) } catch { finish(.failure(error)) } }
            timer.withLock { $0 = Task { if (try? await Task.sleep(for: limit)) != nil { finish(nil) } } }
        }
        timer.withLock { $0?.cancel() }
        return outcome
    }

    /// The statements a delivery makes before its call, on a connection to a database that stopped
    /// answering (a host gone dark, every packet dropped): each fails within its bound, and the delivery is
    /// deferred, instead of waiting ~15 min for the kernel and calling after its lease ran out.
    @Test("the pacing statement, the superseder look-up and recording the call fail within their bound on a stalled database connection")
    func statementsBeforeTheCallAreBounded() async throws {
        try await DeliveryWorkerTests.run { client, schema, _, _ in
            let intent = { var intent = DeliveryWorkerTests.breachIntent(); intent.supersededBy = UUID(); return intent }()
            let steps: [(String, @Sendable (PostgresClient) async throws -> Void)] = [
                ("pace", { proxied in
                    let pacer = EndpointPacer(client: proxied, schema: schema, lockTimeout: .milliseconds(500), statementBound: .seconds(1))
                    _ = try await pacer.pace(endpoint: "hook", key: "k", limit: RateLimit(count: 5, window: .seconds(60)), logger: .complaintTest)
                }),
                ("decide", { proxied in
                    _ = try await HeldGuestMessages.decide(intent, client: proxied, schema: schema, bound: .seconds(1), logger: .complaintTest)
                }),
                ("recordCall", { proxied in
                    try await HeldGuestMessages.recordCall(intent, client: proxied, schema: schema, bound: .seconds(1), logger: .complaintTest)
                }),
            ]
            let database = try await TestDatabase.shared.configuration()
            for (name, step) in steps {
                // A client of one connection through a proxy of its own: working, then stalled.
                // Stopped once, below (a second stop could shut a reused descriptor down).
                let proxy = try DatabaseProxy(to: database.endpoint)
                var configuration = proxy.configuration(from: database).makeClientConfiguration()
                configuration.options.minimumConnections = 0
                configuration.options.maximumConnections = 1
                let proxied = PostgresClient(configuration: configuration, backgroundLogger: .complaintTest)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { await proxied.run() }
                    defer { group.cancelAll() }
                    do {
                        try await proxied.query("SELECT 1", logger: .complaintTest)
                    } catch {
                        proxy.stop()
                        throw error
                    }
                    proxy.stall()
                    let started = ContinuousClock.now
                    let outcome = await Self.outcome(within: .seconds(10)) { try await step(proxied) }
                    let took = ContinuousClock.now - started
                    // Ends the connection: a statement still waiting fails now.
                    proxy.stop()
                    guard let outcome else {
                        Issue.record("\(name) never ended on the stalled connection")
                        return
                    }
                    guard case .failure = outcome else {
                        Issue.record("\(name) succeeded through the stalled connection")
                        return
                    }
                    #expect(took < .seconds(5), "\(name) failed after \(took)")
                }
            }
        }
    }

    /// The e-mail channel asks before it connects, for the whole exchange (240 s by default).
    @Test("an e-mail whose work lease has less than the SMTP exchange's total left is not sent: the server sees no connection")
    func emailNotSentLate() async throws {
        let sink = try await SMTPSink()
        defer { sink.stop() }
        let channel = SMTPTests.channel(port: sink.port, tls: .off)
        let intent = NotifierFixtures.intent(
            template: "complaint_received_guest", channel: .email, recipient: NotificationRecipient(kind: .guest, role: .guest), endpoint: nil,
            trigger: "received")
        let message = OutgoingMessage(
            intent: intent, channel: .email, rendered: RenderedMessage(subject: "s", text: "t", html: nil, language: "en"),
            destination: .email("guest@example.com"), link: nil)
        let lease = WorkLease(deadline: .now + .seconds(200), margin: .seconds(10), duration: .seconds(300))
        await #expect(throws: WorkLeaseRunningOut.self) {
            try await WorkLease.$current.withValue(lease) { try await channel.send(message, logger: .complaintTest) }
        }
        #expect(lease.refused?.contains("SMTP exchange") == true)
        // With room for it, the same message goes: the sink was listening.
        let roomy = WorkLease(deadline: .now + .seconds(300), margin: .seconds(10), duration: .seconds(300))
        _ = try await WorkLease.$current.withValue(roomy) { try await channel.send(message, logger: .complaintTest) }
        // The message of the refused send would be in before this one's (the sink writes it before its 250).
        #expect(await sink.waitFor(1).count == 1, "the refused send went out too")
    }

    /// A guest's 'received', held for the quiet hours, and its superseder 'resolved', which failed its first
    /// attempt (retrying): the held message falls due now and is claimed, with a 300 s lease.
    static func claimHeldReceived(store: StageStore, schema: SchemaName, client: PostgresClient) async throws -> (WorkItem, NotificationIntent) {
        try await HeldGuestMessagesTests.handle(
            ["received", "resolved"], complaint: UUID(), rules: try HeldGuestMessagesTests.rules(night: true), store: store, schema: schema)
        for statement in [
            "UPDATE \(schema).deliveries SET status = 'retrying' WHERE rule = 'guest-resolved'",
            "UPDATE \(schema).work_queue SET due_at = now() WHERE payload->>'trigger' = 'received'",
        ] {
            _ = try await client.query(PostgresQuery(unsafeSQL: statement), logger: .complaintTest).collect()
        }
        let claimed = try await client.withConnection { connection in
            try await WorkQueue(schema: schema).claim(kinds: ["guest"], limit: 1, lease: .seconds(300), on: connection, logger: .complaintTest)
        }
        let item = try #require(claimed.first)
        let intent = try item.decodePayload(NotificationIntent.self)
        #expect(intent.trigger == "received" && intent.supersededBy != nil, "\(intent)")
        return (item, intent)
    }

    /// A message held for the quiet hours, with a later one that supersedes it: a slow superseder look-up or
    /// intake used up its lease. Before, it recorded its call (`called_at`) and then the SMTP exchange was
    /// refused for the lease: every later attempt skipped the supersession check, and the guest got both.
    @Test("a held guest message whose lease has no room for its call is deferred before its call is recorded: its superseder delivered, it is given up, not sent too")
    func heldMessageRefusedBeforeItsCallIsRecorded() async throws {
        let service = RedressService.notifier.isolated()
        try await withMigratedSchema(of: service) { store, client in
            let schema = service.schema
            let (item, intent) = try await Self.claimHeldReceived(store: store, schema: schema, client: client)
            let sink = try await SMTPSink()
            defer { sink.stop() }
            let performer = try HeldGuestMessagesTests.morningPerformer(
                channel: SMTPTests.channel(port: sink.port, tls: .off), guests: HeldGuestMessagesTests.Guest(status: "assigned"),
                surveySecret: "secret", schema: schema, client: client)
            // 245 s left: the SMTP exchange (240 s) and the margin need 250.
            let short = WorkLease(deadline: .now + .seconds(245), margin: .seconds(10), duration: .seconds(300))
            await #expect(throws: WorkLeaseRunningOut.self) {
                try await WorkLease.$current.withValue(short) { try await performer.perform(item, logger: .complaintTest) }
            }
            let called = try await client.query(
                "SELECT called_at IS NOT NULL FROM \(unescaped: schema.rawValue).deliveries WHERE notification_id = \(intent.notificationID)",
                logger: .complaintTest
            ).collect()[0].decode(Bool.self)
            #expect(!called, "the call was recorded as made, though none was")
            // 'resolved' is delivered meanwhile; 'received', claimed again on a fresh lease, is given up.
            _ = try await client.query(
                PostgresQuery(unsafeSQL: "UPDATE \(schema).deliveries SET status = 'delivered' WHERE rule = 'guest-resolved'"), logger: .complaintTest
            ).collect()
            let fresh = WorkLease(deadline: .now + .seconds(300), margin: .seconds(10), duration: .seconds(300))
            do {
                let receipt = try await WorkLease.$current.withValue(fresh) { try await performer.perform(item, logger: .complaintTest) }
                Issue.record("the held message was sent as well as its superseder: \(receipt)")
            } catch let failure as WorkFailure {
                #expect(failure.isPermanent && failure.reason.hasPrefix("[superseded_by_resolved]"), "\(failure)")
            }
        }
    }

    /// The channel of a call whose check ahead of its record could not see its length (the record waited
    /// for a database connection, which no bound covers): the e-mail channel, not known as one by the
    /// performer's check, so that check passes and the SMTP exchange's own refuses after the record.
    struct UnforeseenChannel: NotificationChannel {
        var inner: EmailChannel
        var channels: [DeliveryChannel] { inner.channels }
        func send(_ message: OutgoingMessage, logger: Logger) async throws -> String { try await inner.send(message, logger: logger) }
    }

    /// Fresh claim, the check ahead of the record passes, the record is made, the channel then refuses the
    /// call for its lease (as after a 30 s wait for a connection). Before, `called_at` stayed set, and the
    /// next attempt sent the held message without looking at its superseder, delivered meanwhile.
    @Test("a held guest message whose call the channel refuses for its lease after the call was recorded: the record is taken back, and it is given up once its superseder is delivered")
    func heldMessageRefusedAfterItsCallIsRecorded() async throws {
        let service = RedressService.notifier.isolated()
        try await withMigratedSchema(of: service) { store, client in
            let schema = service.schema
            let (item, intent) = try await Self.claimHeldReceived(store: store, schema: schema, client: client)
            let sink = try await SMTPSink()
            defer { sink.stop() }
            let email = SMTPTests.channel(port: sink.port, tls: .off)
            let performer = try HeldGuestMessagesTests.morningPerformer(
                channel: UnforeseenChannel(inner: email), guests: HeldGuestMessagesTests.Guest(status: "assigned"),
                surveySecret: "secret", schema: schema, client: client)
            // 245 s left: the check ahead of the record (no call length known, 10 + 15 s) passes, the SMTP exchange (240 + 10 s) does not.
            let short = WorkLease(deadline: .now + .seconds(245), margin: .seconds(10), duration: .seconds(300))
            await #expect(throws: WorkLeaseRunningOut.self) {
                try await WorkLease.$current.withValue(short) { try await performer.perform(item, logger: .complaintTest) }
            }
            #expect(short.refused?.contains("SMTP exchange") == true, "\(short.refused ?? "")")
            let called = try await client.query(
                "SELECT called_at IS NOT NULL FROM \(unescaped: schema.rawValue).deliveries WHERE notification_id = \(intent.notificationID)",
                logger: .complaintTest
            ).collect()[0].decode(Bool.self)
            #expect(!called, "the refused call stayed recorded as made")
            _ = try await client.query(
                PostgresQuery(unsafeSQL: "UPDATE \(schema).deliveries SET status = 'delivered' WHERE rule = 'guest-resolved'"), logger: .complaintTest
            ).collect()
            let fresh = WorkLease(deadline: .now + .seconds(300), margin: .seconds(10), duration: .seconds(300))
            do {
                let receipt = try await WorkLease.$current.withValue(fresh) { try await performer.perform(item, logger: .complaintTest) }
                Issue.record("the held message was sent as well as its superseder: \(receipt)")
            } catch let failure as WorkFailure {
                #expect(failure.isPermanent && failure.reason.hasPrefix("[superseded_by_resolved]"), "\(failure)")
            }
            // A call recorded by an earlier attempt stays recorded: only this attempt's record is taken back.
            let (notifierClient, notifierSchema) = try performer.pacer.notifierSchema()
            #expect(try await HeldGuestMessages.recordCall(intent, client: notifierClient, schema: notifierSchema, logger: .complaintTest))
            #expect(try await !HeldGuestMessages.recordCall(intent, client: notifierClient, schema: notifierSchema, logger: .complaintTest))
            // Taken back only while this attempt holds the lease: once another replica claimed the item (its
            // lease ran out while the clear waited for a connection), the record stays, for the call that
            // replica may have made.
            func calledAt() async throws -> Bool {
                try await client.query(
                    "SELECT called_at IS NOT NULL FROM \(unescaped: schema.rawValue).deliveries WHERE notification_id = \(intent.notificationID)",
                    logger: .complaintTest
                ).collect()[0].decode(Bool.self)
            }
            _ = try await client.query(
                "UPDATE \(unescaped: schema.rawValue).work_queue SET lease_token = \(UUID()) WHERE id = \(item.id)", logger: .complaintTest
            ).collect()
            try await HeldGuestMessages.unrecordCall(intent, item: item, client: notifierClient, schema: notifierSchema, logger: .complaintTest)
            #expect(try await calledAt(), "the record of another attempt's call was taken back")
            _ = try await client.query(
                "UPDATE \(unescaped: schema.rawValue).work_queue SET lease_token = \(item.leaseToken) WHERE id = \(item.id)", logger: .complaintTest
            ).collect()
            try await HeldGuestMessages.unrecordCall(intent, item: item, client: notifierClient, schema: notifierSchema, logger: .complaintTest)
            #expect(try await !calledAt())
        }
    }

    @Test("a call asks the lease of the work item being performed: refused (and remembered for the worker) when less than its bound and the margin is left")
    func leaseRefusesALateCall() throws {
        try WorkLease.beforeCall(taking: .seconds(1000), "no lease: always made")
        let lease = WorkLease(deadline: .now + .seconds(3), margin: .seconds(1), duration: .seconds(10))
        try WorkLease.$current.withValue(lease) {
            try WorkLease.beforeCall(taking: .seconds(1), "room for it")
            #expect(throws: WorkLeaseRunningOut.self) { try WorkLease.beforeCall(taking: .seconds(2), "the SMTP exchange") }
        }
        #expect(lease.refused?.hasPrefix("[lease_running_out] the SMTP exchange not made") == true, "\(lease.refused ?? "")")
        // A call longer than the lease itself goes right after a claim (else it would wait for ever), not later.
        let fresh = WorkLease(deadline: .now + .seconds(9.5), margin: .seconds(1), duration: .seconds(10))
        try WorkLease.$current.withValue(fresh) { try WorkLease.beforeCall(taking: .seconds(20), "too long for any lease") }
        // Asked ahead of a step that records the call (3 s at most): room for the step too, or refused.
        let ahead = WorkLease(deadline: .now + .seconds(5), margin: .seconds(1), duration: .seconds(10))
        try WorkLease.$current.withValue(ahead) {
            try WorkLease.beforeCall(taking: .seconds(3), "the call alone")
            #expect(throws: WorkLeaseRunningOut.self) { try WorkLease.beforeCall(taking: .seconds(3), after: .seconds(3), "the call and its record") }
        }
        let later = WorkLease(deadline: .now + .seconds(8), margin: .seconds(1), duration: .seconds(10))
        #expect(throws: WorkLeaseRunningOut.self) {
            try WorkLease.$current.withValue(later) { try WorkLease.beforeCall(taking: .seconds(20), "too long for any lease") }
        }
    }
}
