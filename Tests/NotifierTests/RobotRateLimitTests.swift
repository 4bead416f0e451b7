import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import Logging
@testable import Notifier
import PostgresNIO
import RdKafkaTestKit
import Testing

/// A robot that refuses a message for its rate limit (WeCom 45009 in a 200 answer, Slack's 429) has not
/// failed it: the message waits without using an attempt, and the robot's other messages wait with it.
/// Any other refusal is a failed attempt, as before.
@Suite("Robot rate-limit refusals use no attempt", .timeLimit(.minutes(2)))
struct RobotRateLimitTests {
    static func yaml(_ channel: DeliveryChannel) -> String {
        """
        endpoints:
          group: {channel: \(channel.rawValue), url: "${BASE}/robots/\(channel.rawValue)", rateLimit: none}
        rules:
          - {name: r, on: [sla.breached], to: ["endpoint:group"], template: sla_breached_staff}
        """
    }

    static func intent(_ channel: DeliveryChannel) -> NotificationIntent {
        var intent = NotifierFixtures.intent(template: "sla_breached_staff", channel: channel, endpoint: "group", trigger: "sla.breached")
        intent.rule = "r"
        intent.notificationID = NotificationIntent.notificationID(forKey: intent.idempotencyKey)
        return intent
    }

    static func queued(_ intent: NotificationIntent, schema: SchemaName, client: PostgresClient) async throws -> (status: String, attempts: Int, due: Date) {
        let rows = try await client.query(
            PostgresQuery(unsafeSQL: "SELECT status, attempts, due_at FROM \(schema).work_queue WHERE idempotency_key = '\(intent.idempotencyKey)'"),
            logger: .complaintTest).collect()
        return try rows[0].decode((String, Int, Date).self)
    }

    @Test("WeCom refuses once with 45009, then accepts: deferred a minute with its one attempt unused, the robot's next message held without a call, then delivered on that attempt")
    func weComRefusesOnce() async throws {
        try await DeliveryWorkerTests.run(yaml: Self.yaml(.wecom)) { client, schema, receiver, performer in
            receiver.script(.status(200, body: #"{"errcode":45009,"errmsg":"api freq out of limit"}"#))
            let first = Self.intent(.wecom)
            try await DeliveryWorkerTests.record(first, attempts: 1, schema: schema, client: client)
            let second = Self.intent(.wecom)
            // Before the refusal: the first is due a minute or so after it, however long the test takes to look.
            let beforeTheCall = Date()
            try await withRunningServices([DeliveryWorkerTests.worker(performer, schema: schema, client: client)]) {
                let deferred = try await eventually(timeout: .seconds(20)) {
                    try await DeliveryWorkerTests.delivery(first.notificationID, schema: schema, client: client).status != "pending"
                }
                #expect(deferred)
                // Planned while the robot is refusing: it waits with the first, and the robot is not called.
                try await DeliveryWorkerTests.record(second, attempts: 1, schema: schema, client: client)
                let held = try await eventually(timeout: .seconds(20)) {
                    try await DeliveryWorkerTests.delivery(second.notificationID, schema: schema, client: client).status != "pending"
                }
                #expect(held)
            }
            let row = try await DeliveryWorkerTests.delivery(first.notificationID, schema: schema, client: client)
            #expect(row.status == "deferred" && row.attempts == 0, "not given up: \(row)")
            #expect(row.error?.hasPrefix("[wecom_45009] rate limited") == true, "\(row.error ?? "")")
            let queued = try await Self.queued(first, schema: schema, client: client)
            #expect(queued.status == "pending" && queued.attempts == 0, "its one attempt unused: \(queued)")
            #expect(queued.due >= beforeTheCall.addingTimeInterval(60), "back in a minute or so")
            let heldRow = try await DeliveryWorkerTests.delivery(second.notificationID, schema: schema, client: client)
            #expect(heldRow.status == "deferred" && heldRow.error?.hasPrefix("[endpoint_rate_limited]") == true, "\(heldRow)")
            #expect(try await Self.queued(second, schema: schema, client: client).due >= queued.due.addingTimeInterval(-1))
            #expect(receiver.requests.count == 1, "the second message was not sent to a robot that is refusing")
            #expect(try await DeliveryWorkerTests.receipts(schema: schema, client: client).isEmpty, "a refusal for the rate limit is not an attempt: no receipt")

            // The minute passes (the robot's hold is over, both due now): delivered, each on its one attempt.
            try await client.query(PostgresQuery(unsafeSQL: "UPDATE \(schema).endpoint_pacing SET held_until = NULL"), logger: .complaintTest)
            try await client.query(PostgresQuery(unsafeSQL: "UPDATE \(schema).work_queue SET due_at = now()"), logger: .complaintTest)
            try await withRunningServices([DeliveryWorkerTests.worker(performer, schema: schema, client: client)]) {
                let done = try await eventually(timeout: .seconds(20)) { try await DeliveryWorkerTests.receipts(schema: schema, client: client).count == 2 }
                #expect(done)
            }
            let receipts = try await DeliveryWorkerTests.receipts(schema: schema, client: client)
            #expect(receipts.map(\.kind) == [.delivered, .delivered])
            #expect(receipts.allSatisfy { $0.attempts == 1 })
            #expect(try await DeliveryWorkerTests.delivery(first.notificationID, schema: schema, client: client).status == "delivered")
            #expect(receiver.requests.count == 3)
        }
    }

    @Test("a 45009 seen by one replica holds the robot for the other: its message is deferred with endpoint_rate_limited, without a call")
    func refusalHoldsEveryReplica() async throws {
        try await DeliveryWorkerTests.run(yaml: Self.yaml(.wecom)) { client, schema, receiver, performer in
            receiver.script(.status(200, body: #"{"errcode":45009,"errmsg":"api freq out of limit"}"#))
            let first = Self.intent(.wecom)
            try await DeliveryWorkerTests.record(first, attempts: 1, schema: schema, client: client)
            try await withRunningServices([DeliveryWorkerTests.worker(performer, schema: schema, client: client)]) {
                let refused = try await eventually(timeout: .seconds(20)) {
                    try await DeliveryWorkerTests.delivery(first.notificationID, schema: schema, client: client).status != "pending"
                }
                #expect(refused)
            }
            // Another replica, which never saw the refusal, has the robot's next message.
            let other = DeliveryWorkerTests.replica(of: performer, client: client, schema: schema)
            let second = Self.intent(.wecom)
            try await DeliveryWorkerTests.record(second, attempts: 1, schema: schema, client: client)
            try await withRunningServices([DeliveryWorkerTests.worker(other, schema: schema, client: client)]) {
                let held = try await eventually(timeout: .seconds(20)) {
                    try await DeliveryWorkerTests.delivery(second.notificationID, schema: schema, client: client).status != "pending"
                }
                #expect(held)
            }
            let row = try await DeliveryWorkerTests.delivery(second.notificationID, schema: schema, client: client)
            #expect(row.status == "deferred" && row.attempts == 0 && row.error?.hasPrefix("[endpoint_rate_limited]") == true, "\(row)")
            let refusedDue = try await Self.queued(first, schema: schema, client: client).due
            let heldDue = try await Self.queued(second, schema: schema, client: client).due
            #expect(heldDue >= refusedDue.addingTimeInterval(-1), "held as long as the refusal asked: \(heldDue) vs \(refusedDue)")
            #expect(receiver.requests.count == 1, "the other replica did not call a robot that is refusing")
            #expect(try await DeliveryWorkerTests.receipts(schema: schema, client: client).isEmpty)
        }
    }

    @Test("Slack answers 429 with Retry-After: 1, then accepts: delivered after it, on the single attempt")
    func slack429ThenAccepted() async throws {
        try await DeliveryWorkerTests.run(yaml: Self.yaml(.slack)) { client, schema, receiver, performer in
            receiver.script(.status(429, body: "rate_limited", retryAfter: "1"))
            let intent = Self.intent(.slack)
            try await DeliveryWorkerTests.record(intent, attempts: 1, schema: schema, client: client)
            try await withRunningServices([DeliveryWorkerTests.worker(performer, schema: schema, client: client)]) {
                let done = try await eventually(timeout: .seconds(20)) { try await DeliveryWorkerTests.receipts(schema: schema, client: client).count == 1 }
                #expect(done)
            }
            let receipts = try await DeliveryWorkerTests.receipts(schema: schema, client: client)
            #expect(receipts.map(\.kind) == [.delivered], "\(receipts.map(\.status))")
            #expect(receipts.first?.attempts == 1)
            #expect(receiver.requests.count == 2)
            let requests = receiver.requests
            #expect(requests.count == 2 && requests[0].body == requests[1].body, "the same message again")
        }
    }

    /// The 429's wait was turned into a time on the application's clock (`Date() + wait`) and the queue
    /// compares due times with the database's: with the application a minute ahead the message came back
    /// after 62 s, a minute behind at once.
    @Test("Slack's 429 with Retry-After: 2 is due 2 s after the database's now, the application's clock 60 s ahead or behind",
          arguments: [60, -60])
    func retryAfterCountsOnTheDatabaseClock(applicationAheadBy seconds: Int) async throws {
        try await DeliveryWorkerTests.run(yaml: Self.yaml(.slack)) { client, schema, receiver, performer in
            try await ClockSkew.shadowClock(in: schema, applicationAheadBy: seconds, client: client)
            receiver.script(.status(429, body: "rate_limited", retryAfter: "2"))
            let intent = Self.intent(.slack)
            // Due on either clock.
            try await DeliveryWorkerTests.record(intent, attempts: 1, dueAt: Date().addingTimeInterval(-300), schema: schema, client: client)
            let gap = try await ClockSkew.withClient(shadowingClockIn: schema) { skewed in
                let replica = DeliveryWorkerTests.replica(of: performer, client: skewed, schema: schema)
                return try await withRunningServices([
                    DeliveryWorkerTests.worker(replica, schema: schema, client: skewed, connectionsUseSchema: true),
                ]) {
                    _ = await receiver.waitFor(1)
                    let refused = ContinuousClock.now
                    // The old code: after 62 s (ahead), or within the poll interval (behind).
                    let requests = await receiver.waitFor(2, timeout: .seconds(30))
                    #expect(requests.count == 2, "the message did not come back within 30 s")
                    return ContinuousClock.now - refused
                }
            }
            #expect(gap >= .milliseconds(1500) && gap < .seconds(15), "the deferred message came back after \(gap)")
            let done = try await eventually(timeout: .seconds(20)) { try await DeliveryWorkerTests.receipts(schema: schema, client: client).count == 1 }
            #expect(done)
            #expect(try await DeliveryWorkerTests.receipts(schema: schema, client: client).map(\.attempts) == [1], "delivered on its one attempt")
        }
    }

    @Test("a 45009 the other replicas cannot be told of (the pacing table refuses the hold): still deferred with its attempt unused")
    func holdNotRecordedStillDefers() async throws {
        try await DeliveryWorkerTests.run(yaml: Self.yaml(.wecom)) { client, schema, receiver, performer in
            try await client.query(PostgresQuery(unsafeSQL: """
                CREATE FUNCTION \(schema).refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'pacing refused'; END $$
                """), logger: .complaintTest)
            try await client.query(PostgresQuery(unsafeSQL: """
                CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON \(schema).endpoint_pacing FOR EACH ROW EXECUTE FUNCTION \(schema).refuse()
                """), logger: .complaintTest)
            receiver.script(.status(200, body: #"{"errcode":45009,"errmsg":"api freq out of limit"}"#))
            let intent = Self.intent(.wecom)
            try await DeliveryWorkerTests.record(intent, attempts: 1, schema: schema, client: client)
            try await withRunningServices([DeliveryWorkerTests.worker(performer, schema: schema, client: client)]) {
                let handled = try await eventually(timeout: .seconds(20)) {
                    try await DeliveryWorkerTests.delivery(intent.notificationID, schema: schema, client: client).status != "pending"
                }
                #expect(handled)
            }
            // Before: the hold's error replaced the deferral, a failed attempt, given up on the last one.
            let row = try await DeliveryWorkerTests.delivery(intent.notificationID, schema: schema, client: client)
            #expect(row.status == "deferred" && row.attempts == 0 && row.error?.hasPrefix("[wecom_45009]") == true, "\(row)")
            let queued = try await Self.queued(intent, schema: schema, client: client)
            #expect(queued.status == "pending" && queued.attempts == 0, "\(queued)")
            #expect(try await DeliveryWorkerTests.receipts(schema: schema, client: client).isEmpty)
        }
    }

    @Test("a refusal that is not a rate limit (WeCom 93000, bad key) is a used attempt and given up, as before")
    func otherRefusalsFail() async throws {
        try await DeliveryWorkerTests.run(yaml: Self.yaml(.wecom)) { client, schema, receiver, performer in
            receiver.script(.status(200, body: #"{"errcode":93000,"errmsg":"invalid webhook url"}"#))
            let intent = Self.intent(.wecom)
            try await DeliveryWorkerTests.record(intent, attempts: 3, schema: schema, client: client)
            try await withRunningServices([DeliveryWorkerTests.worker(performer, schema: schema, client: client)]) {
                let done = try await eventually(timeout: .seconds(20)) { try await DeliveryWorkerTests.receipts(schema: schema, client: client).count == 1 }
                #expect(done)
            }
            let receipts = try await DeliveryWorkerTests.receipts(schema: schema, client: client)
            #expect(receipts.map(\.kind) == [.givenUp])
            #expect(receipts.first?.attempts == 1)
            guard case .givenUp(let failure) = receipts.first?.status else { return }
            #expect(failure.code == "wecom_93000")
            let row = try await DeliveryWorkerTests.delivery(intent.notificationID, schema: schema, client: client)
            #expect(row.status == "given_up" && row.attempts == 1)
            #expect(receiver.requests.count == 1)
        }
    }
}
