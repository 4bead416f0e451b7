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

/// Robots take about 20 messages a minute each: a burst of complaints is paced, not refused, and a
/// message held back by the limit uses no attempt and is not lost.
@Suite("Endpoint rate limits", .timeLimit(.minutes(2)))
struct EndpointRateLimitTests {
    static func robotIntents(_ count: Int, endpoint: String) -> [NotificationIntent] {
        (0..<count).map { _ in
            var intent = NotifierFixtures.intent(template: "sla_breached_staff", channel: .wecom, endpoint: endpoint, trigger: "sla.breached")
            intent.rule = "r"
            intent.notificationID = NotificationIntent.notificationID(forKey: intent.idempotencyKey)
            return intent
        }
    }

    static func queue(schema: SchemaName, client: PostgresClient) async throws -> [(status: String, attempts: Int, due: Date)] {
        try await client.query(
            PostgresQuery(unsafeSQL: "SELECT status, attempts, due_at FROM \(schema).work_queue ORDER BY id"), logger: .complaintTest
        ).collect().map { try $0.decode((String, Int, Date).self) }
    }

    /// The rules of one robot group, `group`, on `channel` at the receiver's `/robots/<channel>`, with
    /// `rateLimit` (the channel's default without one), sent every breach by rule `r`.
    static func groupYAML(_ channel: String = "wecom", rateLimit: String? = nil) -> String {
        """
        endpoints:
          group: {channel: \(channel), url: "${BASE}/robots/\(channel)"\(rateLimit.map { ", rateLimit: \($0)" } ?? "")}
        rules:
          - {name: r, on: [sla.breached], to: ["endpoint:group"], template: sla_breached_staff}
        """
    }

    /// Plans `intents` as the stage would, each with a single attempt, due now.
    static func record(_ intents: some Sequence<NotificationIntent>, schema: SchemaName, client: PostgresClient) async throws {
        for intent in intents { try await DeliveryWorkerTests.record(intent, attempts: 1, schema: schema, client: client) }
    }

    /// Whether every work item was sent or, with `orWaiting`, is waiting for a later place.
    static func queueSettled(orWaiting: Bool, schema: SchemaName, client: PostgresClient) async throws -> Bool {
        try await Self.queue(schema: schema, client: client).allSatisfy { $0.status == "succeeded" || (orWaiting && $0.due > Date()) }
    }

    /// Runs a worker for each of `performers` until ``queueSettled(orWaiting:schema:client:)``, and expects it within `timeout`.
    static func work(
        _ performers: [DeliveryPerformer], orWaiting: Bool, timeout: Duration = .seconds(20), schema: SchemaName, client: PostgresClient
    ) async throws {
        try await withRunningServices(performers.map { DeliveryWorkerTests.worker($0, schema: schema, client: client) }) {
            let done = try await eventually(timeout: timeout) { try await Self.queueSettled(orWaiting: orWaiting, schema: schema, client: client) }
            let queue = try await Self.queue(schema: schema, client: client)
            #expect(done, "still waiting: \(queue)")
        }
    }

    /// The database's clock, the one the pacing functions read (`clock_timestamp()`).
    static func databaseNow(_ client: PostgresClient) async throws -> Date {
        try await client.query("SELECT clock_timestamp()", logger: .complaintTest).collect()[0].decode(Date.self)
    }

    /// Makes `seconds` pass for the pacing in `schema` without waiting them: the pacing functions read the
    /// database's clock, so the times stored against it move back instead (places, robots' holds, and the
    /// work queue's and deliveries' due times). The database's now afterwards.
    @discardableResult
    static func timePasses(_ seconds: Double, schema: SchemaName, client: PostgresClient) async throws -> Date {
        try await client.query("""
            WITH places AS (
                UPDATE \(unescaped: schema.rawValue).endpoint_places SET place = place - make_interval(secs => \(seconds)::double precision)
            ), holds AS (
                UPDATE \(unescaped: schema.rawValue).endpoint_pacing SET held_until = held_until - make_interval(secs => \(seconds)::double precision)
                WHERE held_until IS NOT NULL
            ), work AS (
                UPDATE \(unescaped: schema.rawValue).work_queue SET due_at = due_at - make_interval(secs => \(seconds)::double precision)
            ), planned AS (
                UPDATE \(unescaped: schema.rawValue).deliveries SET due_at = due_at - make_interval(secs => \(seconds)::double precision)
                WHERE due_at IS NOT NULL
            )
            SELECT clock_timestamp()
            """, logger: .complaintTest).collect()[0].decode(Date.self)
    }

    /// The place booked for the message `key` of `endpoint`, if one is.
    static func bookedPlace(_ key: String, endpoint: String = "g", schema: SchemaName, client: PostgresClient) async throws -> Date? {
        try await client.query("""
            SELECT place FROM \(unescaped: schema.rawValue).endpoint_places WHERE endpoint = \(endpoint) AND idempotency_key = \(key)
            """, logger: .complaintTest).collect().first?.decode(Date.self)
    }

    @Test("a burst of 25 for one WeCom robot: 20 go now (its default limit, 20 a minute), 5 wait a minute with their one attempt unused")
    func burstForOneRobot() async throws {
        try await DeliveryWorkerTests.run(yaml: Self.groupYAML()) { client, schema, receiver, performer in
            try await Self.record(Self.robotIntents(25, endpoint: "group"), schema: schema, client: client)
            // Before the first call: the waiting ones are due a window after it, however long the calls take.
            let beforeTheCalls = Date()
            try await Self.work([performer], orWaiting: true, timeout: .seconds(30), schema: schema, client: client)
            #expect(receiver.requests.count == 20, "the robot got no more than its limit")
            let waiting = try await Self.queue(schema: schema, client: client).filter { $0.status == "pending" }
            #expect(waiting.count == 5)
            #expect(waiting.allSatisfy { $0.attempts == 0 && $0.due >= beforeTheCalls.addingTimeInterval(60) }, "\(waiting)")
            let receipts = try await DeliveryWorkerTests.receipts(schema: schema, client: client)
            #expect(receipts.count == 20 && receipts.allSatisfy { $0.kind == .delivered }, "nothing given up, no receipt for a hold")
        }
    }

    @Test("two replicas share one robot's limit: with rateLimit 2/min they make 2 calls in the window together, not 4; the other's messages wait, attempts unused")
    func replicasShareTheLimit() async throws {
        try await DeliveryWorkerTests.run(yaml: Self.pacedYAML) { client, schema, receiver, first in
            receiver.script(.status(200, body: #"{"errcode":0,"errmsg":"ok"}"#))
            let second = DeliveryWorkerTests.replica(of: first, client: client, schema: schema)
            let intents = Self.robotIntents(4, endpoint: "group")
            let beforeTheCalls = Date()
            // One replica's two calls fill the window.
            try await Self.record(intents[..<2], schema: schema, client: client)
            try await Self.work([first], orWaiting: false, schema: schema, client: client)
            // Two more, then both replicas at once: the other replica's log is the same, so neither calls.
            try await Self.record(intents[2...], schema: schema, client: client)
            try await Self.work([second, first], orWaiting: true, schema: schema, client: client)
            #expect(receiver.requests.count == 2, "two replicas made \(receiver.requests.count) calls in the robot's window of 2")
            let waiting = try await Self.queue(schema: schema, client: client).filter { $0.status == "pending" }
            #expect(waiting.count == 2)
            #expect(waiting.allSatisfy { $0.attempts == 0 && $0.due >= beforeTheCalls.addingTimeInterval(60) }, "\(waiting)")
            var rows: [(status: String, attempts: Int, error: String?)] = []
            for intent in intents[2...] { rows.append(try await DeliveryWorkerTests.delivery(intent.notificationID, schema: schema, client: client)) }
            #expect(rows.allSatisfy { $0.status == "deferred" && $0.error?.hasPrefix("[endpoint_rate_limit]") == true }, "\(rows)")
        }
    }

    @Test("held back by a short limit, every message is delivered in time, each with its single attempt")
    func pacedThenDelivered() async throws {
        try await DeliveryWorkerTests.run(yaml: Self.groupYAML("dingtalk", rateLimit: "2/s")) { client, schema, receiver, performer in
            try await Self.record(Self.robotIntents(5, endpoint: "group"), schema: schema, client: client)
            let start = ContinuousClock.now
            try await Self.work([performer], orWaiting: false, timeout: .seconds(30), schema: schema, client: client)
            #expect(ContinuousClock.now - start >= .seconds(2), "five at two a second take two windows")
            #expect(receiver.requests.count == 5)
            let receipts = try await DeliveryWorkerTests.receipts(schema: schema, client: client)
            #expect(receipts.map(\.kind) == Array(repeating: .delivered, count: 5))
            #expect(receipts.allSatisfy { $0.attempts == 1 })
        }
    }

    @Test("the pacing: a full window books the next free places in order; a booked message finds its place when it returns, early or at it; a newcomer is not put before those waiting")
    func pacer() async throws {
        try await DeliveryWorkerTests.run { client, schema, _, _ in
            let pacer = EndpointPacer(client: client, schema: schema)
            let limit = RateLimit(count: 2, window: .seconds(60))
            @Sendable func admit(_ key: String, endpoint: String = "g") async throws -> Date? {
                try await pacer.admit(endpoint: endpoint, key: key, limit: limit, logger: .complaintTest)
            }
            let start = try await Self.databaseNow(client)
            #expect(try await admit("a") == nil)
            #expect(try await admit("b") == nil)
            try await Self.timePasses(1, schema: schema, client: client)
            let c = try #require(try await admit("c"))
            // a's call moved back the second that passed: the window and a twentieth count from it.
            let first = start.addingTimeInterval(-1)
            #expect(abs(c.timeIntervalSince(first) - 63) < 2, "a window and a twentieth after the first call: \(c.timeIntervalSince(first)) s")
            try await Self.timePasses(1, schema: schema, client: client)
            let c1 = try #require(try await Self.bookedPlace("c", schema: schema, client: client))
            let d = try #require(try await admit("d"))
            let e = try #require(try await admit("e"))
            // d counts from b's call (made just after a's), e from c's place.
            #expect(d >= c1 && d.timeIntervalSince(c1) < 2, "two per window: d \(d.timeIntervalSince(c1)) s after c")
            #expect(abs(e.timeIntervalSince(c1) - 63) < 2, "then the next window: e \(e.timeIntervalSince(c1)) s after c")
            #expect(try await admit("x", endpoint: "other") == nil, "each endpoint its own")
            #expect(try await admit("c") == c1, "early: still its place")
            try await Self.timePasses(30, schema: schema, client: client)
            let early = try #require(try await admit("c"))
            #expect(abs(early.timeIntervalSince(c1) + 30) < 0.001, "still its place, 30 s nearer")
            // Its place comes.
            let now = try await Self.databaseNow(client)
            try await Self.timePasses(early.timeIntervalSince(now) + 0.01, schema: schema, client: client)
            #expect(try await admit("c") == nil, "its place was kept for it")
            let waiting = try #require(try await Self.bookedPlace("e", schema: schema, client: client))
            #expect(try await admit("f") ?? .distantPast >= waiting, "a newcomer is not put before those waiting")
        }
    }

    @Test("the shared pacer: twenty calls at once through two replicas' pacers, limit 3/min: three go, the rest wait three to a window; a place booked on one is found on the other")
    func sharedPacerUnderConcurrency() async throws {
        try await DeliveryWorkerTests.run { client, schema, _, _ in
            let pacers = [EndpointPacer(client: client, schema: schema), EndpointPacer(client: client, schema: schema)]
            let limit = RateLimit(count: 3, window: .seconds(60))
            let results = try await withThrowingTaskGroup(of: (String, Date?).self) { group in
                for index in 0..<20 {
                    group.addTask {
                        let key = "k\(index)"
                        return (key, try await pacers[index % 2].admit(endpoint: "g", key: key, limit: limit, logger: .complaintTest))
                    }
                }
                return try await group.reduce(into: [String: Date?]()) { $0[$1.0] = $1.1 }
            }
            let now = results.filter { $0.value == nil }
            #expect(now.count == 3, "calls made at once: \(now.count)")
            let places = results.compactMap(\.value).sorted()
            #expect(places.count == 17)
            // Three to a window: each place a window and a twentieth (63 s) or more after the place three before it.
            #expect(places.indices.dropFirst(3).allSatisfy { places[$0].timeIntervalSince(places[$0 - 3]) >= 62.999 }, "\(places)")
            #expect(places.last!.timeIntervalSince(places.first!) >= 5 * 63 - 1, "17 waiting places span five more windows")
            // A booked message that comes back early, to the other replica: still its own place.
            let (key, place) = try #require(results.first { $0.value != nil }.map { ($0.key, $0.value!) })
            let index = Int(key.dropFirst())!
            #expect(try await pacers[(index + 1) % 2].admit(endpoint: "g", key: key, limit: limit, logger: .complaintTest) == place)
        }
    }

    static let pacedYAML = groupYAML(rateLimit: "2/min")

    /// What became of one planned message: its `deliveries` row and its work item.
    static func settled(_ intent: NotificationIntent, schema: SchemaName, client: PostgresClient) async throws
        -> (row: (status: String, attempts: Int, error: String?), item: (status: String, attempts: Int))
    {
        let row = try await DeliveryWorkerTests.delivery(intent.notificationID, schema: schema, client: client)
        let item = try await client.query(
            PostgresQuery(unsafeSQL: "SELECT status, attempts FROM \(schema).work_queue WHERE idempotency_key = '\(intent.idempotencyKey)'"),
            logger: .complaintTest).collect()[0].decode((String, Int).self)
        return (row, item)
    }

    /// A replica that froze in its pacing transaction holds the endpoint's row: the others waited for it
    /// without end, each with a worker and a connection, until the items' leases ran out and they were
    /// claimed again (and the robot got the message twice).
    @Test("the endpoint's row held by a frozen replica: the message is deferred with endpoint_pacing_busy within the lock timeout, without a call, its attempt unused")
    func lockedPacingRowDefers() async throws {
        try await DeliveryWorkerTests.run(yaml: Self.pacedYAML) { client, schema, receiver, performer in
            var quick = performer
            quick.pacer = EndpointPacer(client: client, schema: schema, lockTimeout: .milliseconds(500))
            let intent = Self.robotIntents(1, endpoint: "group")[0]
            try await Self.record([intent], schema: schema, client: client)
            try await client.query(PostgresQuery(unsafeSQL: "INSERT INTO \(schema).endpoint_pacing (endpoint) VALUES ('group')"), logger: .complaintTest)
            let elapsed = try await client.withConnection { frozen in
                try await frozen.query("BEGIN", logger: .complaintTest)
                try await frozen.query(
                    PostgresQuery(unsafeSQL: "SELECT * FROM \(schema).endpoint_pacing WHERE endpoint = 'group' FOR UPDATE"), logger: .complaintTest)
                let start = ContinuousClock.now
                do {
                    let elapsed = try await withRunningServices([DeliveryWorkerTests.worker(quick, schema: schema, client: client)]) {
                        let handled = try await eventually(timeout: .seconds(20)) {
                            try await DeliveryWorkerTests.delivery(intent.notificationID, schema: schema, client: client).status != "pending"
                        }
                        let elapsed = ContinuousClock.now - start
                        // Released before the worker stops: the old code's admit waited for it.
                        try await frozen.query("ROLLBACK", logger: .complaintTest)
                        #expect(handled, "still waiting for the row after 20 s")
                        return elapsed
                    }
                    return elapsed
                } catch {
                    try? await frozen.query("ROLLBACK", logger: .complaintTest)
                    throw error
                }
            }
            #expect(elapsed < .seconds(5), "deferred after \(elapsed)")
            let (row, item) = try await Self.settled(intent, schema: schema, client: client)
            #expect(row.status == "deferred" && row.attempts == 0 && row.error?.hasPrefix("[endpoint_pacing_busy]") == true, "\(row)")
            #expect(item.status == "pending" && item.attempts == 0, "\(item)")
            #expect(receiver.requests.isEmpty, "no call without a place")
            #expect(try await DeliveryWorkerTests.receipts(schema: schema, client: client).isEmpty)
        }
    }

    /// Delivers one robot message through `performer` and expects what a pacing that does not answer
    /// gives: deferred with `endpoint_pacing_busy`, its attempt unused, no call, no receipt.
    static func expectDeferredBusy(
        _ performer: DeliveryPerformer, schema: SchemaName, client: PostgresClient, receiver: RecordingReceiver
    ) async throws {
        let intent = Self.robotIntents(1, endpoint: "group")[0]
        try await Self.record([intent], schema: schema, client: client)
        try await withRunningServices([DeliveryWorkerTests.worker(performer, schema: schema, client: client)]) {
            let handled = try await eventually(timeout: .seconds(20)) {
                try await DeliveryWorkerTests.delivery(intent.notificationID, schema: schema, client: client).status != "pending"
            }
            #expect(handled)
        }
        let (row, item) = try await Self.settled(intent, schema: schema, client: client)
        #expect(row.status == "deferred" && row.attempts == 0 && row.error?.hasPrefix("[endpoint_pacing_busy]") == true, "\(row)")
        #expect(item.status == "pending" && item.attempts == 0, "\(item)")
        #expect(receiver.requests.isEmpty)
        #expect(try await DeliveryWorkerTests.receipts(schema: schema, client: client).isEmpty)
    }

    @Test("the pacing tables failing (renamed away): the message is deferred with endpoint_pacing_busy, not given up on its one attempt, and no call is made")
    func failingPacingDefers() async throws {
        try await DeliveryWorkerTests.run(yaml: Self.pacedYAML) { client, schema, receiver, performer in
            try await client.query(
                PostgresQuery(unsafeSQL: "ALTER TABLE \(schema).endpoint_places RENAME TO endpoint_places_gone"), logger: .complaintTest)
            // Before: a failed attempt, given up on the last one without the endpoint ever being called.
            try await Self.expectDeferredBusy(performer, schema: schema, client: client, receiver: receiver)
        }
    }

    /// A pacer not yet shared kept a log of its own process: it let calls through that every other replica
    /// counted nothing of, a rule of its own kept in step with the SQL by comments only.
    @Test("a pacer asked before it is shared through the notifier's schema: the message is deferred with endpoint_pacing_busy, no call made, its attempt unused; the purge and the re-pace fail too")
    func unsharedPacerAnswersNothing() async throws {
        try await DeliveryWorkerTests.run(yaml: Self.pacedYAML) { client, schema, receiver, performer in
            var unshared = performer
            unshared.pacer = EndpointPacer()
            // Before: called at once, paced by this process's log alone.
            try await Self.expectDeferredBusy(unshared, schema: schema, client: client, receiver: receiver)
            let purge = await #expect(throws: EndpointPacer.Unavailable.self) { try await unshared.pacer.purge(logger: .complaintTest) }
            #expect(purge?.description.contains("before it was shared") == true, "\(purge.map { "\($0)" } ?? "")")
            await #expect(throws: EndpointPacer.Unavailable.self) {
                try await unshared.pacer.repace(endpoint: "group", limit: nil, logger: .complaintTest)
            }
        }
    }

    @Test("a message that comes back after its place makes its call then: the next place counts from that call, not from the place it missed")
    func lateCallCountsFromNow() async throws {
        try await DeliveryWorkerTests.run { client, schema, _, _ in
            let pacer = EndpointPacer(client: client, schema: schema)
            let limit = RateLimit(count: 1, window: .seconds(60))
            #expect(try await pacer.admit(endpoint: "g", key: "a", limit: limit, logger: .complaintTest) == nil)
            #expect(try await pacer.admit(endpoint: "g", key: "b", limit: limit, logger: .complaintTest) != nil)
            // 70 s pass: a's call is out of the window, b's place (63 s after it) 7 s behind.
            let now = try await Self.timePasses(70, schema: schema, client: client)
            #expect(try await pacer.admit(endpoint: "g", key: "b", limit: limit, logger: .complaintTest) == nil, "late: called at once")
            let next = try #require(try await pacer.admit(endpoint: "g", key: "c", limit: limit, logger: .complaintTest))
            // Before: 63 s after the missed place, 56 s after the call.
            let after = next.timeIntervalSince(now)
            #expect(after >= 62.999 && after < 63.5, "the next place is \(after) s after b's call, a window and a twentieth")
        }
    }

    /// A message that comes back after its place (as every one does, a moment after its due time, or
    /// long after, following a restart) calls then. Sending a late one behind the places booked after
    /// it, to keep them from crowding a window with it, stalled the queue: with every window full, each
    /// returning message went to the back and nobody called.
    @Test("the shared pacing: messages back well after their places (37 s late at 2/min) call at once instead of going to the back of the queue")
    func lateReturnCalls() async throws {
        try await DeliveryWorkerTests.run { client, schema, _, _ in
            let pacer = EndpointPacer(client: client, schema: schema)
            let limit = RateLimit(count: 2, window: .seconds(60))
            #expect(try await pacer.admit(endpoint: "g", key: "a", limit: limit, logger: .complaintTest) == nil)
            #expect(try await pacer.admit(endpoint: "g", key: "b", limit: limit, logger: .complaintTest) == nil)
            for key in ["c", "d", "e", "f"] {
                #expect(try await pacer.admit(endpoint: "g", key: key, limit: limit, logger: .complaintTest) != nil)
            }
            // 100 s pass: c and d are 37 s late, e and f 26 s away.
            try await Self.timePasses(100, schema: schema, client: client)
            #expect(try await pacer.admit(endpoint: "g", key: "c", limit: limit, logger: .complaintTest) == nil)
            #expect(try await pacer.admit(endpoint: "g", key: "d", limit: limit, logger: .complaintTest) == nil)
        }
    }

    @Test("the pacing: a backlog whose every message comes back later than a twentieth of the window after its place is all called, in order", arguments: [
        (RateLimit(count: 1, window: .seconds(1)), 0.3), (RateLimit(count: 20, window: .seconds(60)), 4.0), (RateLimit(count: 3, window: .seconds(60)), 4.0),
    ])
    func steadyLatenessDoesNotStall(limit: RateLimit, lateness: Double) async throws {
        try await DeliveryWorkerTests.run { client, schema, _, _ in
            let pacer = EndpointPacer(client: client, schema: schema)
            // When each message asks, on the database's clock as the stored times have it; time is made to
            // pass (the stored times and these move back together) up to the next one's.
            let start = try await Self.databaseNow(client)
            var waiting = (0..<40).map { (at: start.addingTimeInterval(Double($0) / 100), key: "m\($0)") }
            var called: [String] = []
            var returns = 0
            while returns < 2000, let next = waiting.min(by: { $0.at < $1.at }) {
                waiting.removeAll { $0.key == next.key }
                let now = try await Self.databaseNow(client)
                let ahead = next.at.timeIntervalSince(now)
                if ahead > 0 {
                    try await Self.timePasses(ahead, schema: schema, client: client)
                    waiting = waiting.map { (at: $0.at.addingTimeInterval(-ahead), key: $0.key) }
                }
                if let place = try await pacer.admit(endpoint: "g", key: next.key, limit: limit, logger: .complaintTest) {
                    waiting.append((at: place.addingTimeInterval(lateness), key: next.key))
                    returns += 1
                } else {
                    called.append(next.key)
                }
            }
            // With late messages sent to the back (4dcc970): one call at 1/s, then 2,000 returns and no more.
            #expect(called == (0..<40).map { "m\($0)" }, "called \(called.count) after \(returns) returns")
        }
    }

    @Test("a limit changed (a mistaken 1/h fixed to 20/min): places booked under the old one no longer hold newcomers back; old rows of endpoints no longer called go")
    func placesOfAnotherLimitLapse() async throws {
        try await DeliveryWorkerTests.run { client, schema, _, _ in
            let pacer = EndpointPacer(client: client, schema: schema)
            let mistaken = RateLimit(count: 1, window: .seconds(3600))
            let fixed = RateLimit(count: 20, window: .seconds(60))
            #expect(try await pacer.admit(endpoint: "g", key: "a", limit: mistaken, logger: .complaintTest) == nil)
            let booked = try #require(try await pacer.admit(endpoint: "g", key: "b", limit: mistaken, logger: .complaintTest))
            #expect(booked.timeIntervalSinceNow > 3000, "an hour and a twentieth away")
            // Before: c's place came after b's, over an hour away.
            #expect(try await pacer.admit(endpoint: "g", key: "c", limit: fixed, logger: .complaintTest) == nil, "a newcomer goes at once")
            #expect(try await pacer.admit(endpoint: "g", key: "b", limit: fixed, logger: .complaintTest) == nil, "b too, back early")

            // An endpoint no longer called: its places an hour past their window go; a day's window keeps its call.
            try await client.query(PostgresQuery(unsafeSQL: """
                INSERT INTO \(schema).endpoint_places (endpoint, place, limit_count, limit_window) VALUES
                    ('gone', clock_timestamp() - interval '2 hours', 20, 60),
                    ('gone', clock_timestamp() - interval '2 hours', 10, 86400)
                """), logger: .complaintTest)
            #expect(try await pacer.admit(endpoint: "g", key: "d", limit: fixed, logger: .complaintTest) == nil)
            let count = "SELECT count(*) FROM \(schema).endpoint_places WHERE endpoint = 'gone'"
            // Before: purged by the delivery's pacing statement, under the endpoint's row lock.
            #expect(try await client.query(PostgresQuery(unsafeSQL: count), logger: .complaintTest).collect()[0].decode(Int.self) == 2,
                "a delivery's pacing leaves other endpoints' rows to the background purge")
            #expect(try await pacer.purge(logger: .complaintTest) >= 1)
            let left = try await client.query(
                PostgresQuery(unsafeSQL: "SELECT limit_window FROM \(schema).endpoint_places WHERE endpoint = 'gone'"), logger: .complaintTest
            ).collect().map { try $0.decode(Double.self) }
            #expect(left == [86400])
        }
    }

    /// The purge's rule: a place goes once it is an hour past its own window (rows from before 0004 have
    /// none). 0008 gave it a bound the index on the place can use; the rows that go must be the same.
    @Test("the background purge removes exactly the places an hour past their own window (none, a minute, an hour, a day), a batch at a time, and leaves the rest")
    func purgeRemovesPlacesPastTheirWindow() async throws {
        try await DeliveryWorkerTests.run { client, schema, _, _ in
            // Ages in minutes, each at least 30 s from a row's limit (60, 61, 120 and 1,500 minutes).
            let ages: [Double] = [30, 59, 60.5, 62, 119, 121, 1499, 1501]
            let windows: [Int?] = [nil, 60, 3600, 86400]
            let text = { (age: Double) in age == age.rounded() ? "\(Int(age))" : "\(age)" }
            try await client.query(PostgresQuery(unsafeSQL: """
                INSERT INTO \(schema).endpoint_places (endpoint, place, limit_count, limit_window)
                SELECT 'w' || coalesce(w.seconds::text, 'none') || '-a' || a.minutes, clock_timestamp() - make_interval(secs => a.minutes * 60),
                    CASE WHEN w.seconds IS NOT NULL THEN 20 END, w.seconds
                FROM unnest(ARRAY[\(windows.map { $0.map(String.init) ?? "NULL" }.joined(separator: ", "))]::double precision[]) AS w(seconds),
                    unnest(ARRAY[\(ages.map(text).joined(separator: ", "))]::double precision[]) AS a(minutes), generate_series(1, 10)
                """), logger: .complaintTest)
            let pacer = EndpointPacer(client: client, schema: schema)
            var removed: [Int] = []
            for _ in 0..<10 {
                let gone = try await pacer.purge(logger: .complaintTest)
                if gone == 0 { break }
                removed.append(gone)
            }
            let left = try await client.query(PostgresQuery(unsafeSQL: """
                SELECT endpoint, count(*)::integer FROM \(schema).endpoint_places GROUP BY endpoint ORDER BY endpoint
                """), logger: .complaintTest).collect().map { try $0.decode((String, Int).self) }
            var expected: [String] = []
            for window in windows {
                for age in ages where age * 60 <= 3600 + Double(window ?? 0) {
                    expected.append("w\(window.map(String.init) ?? "none")-a\(text(age))")
                }
            }
            #expect(removed == [100, 50], "rows removed by each pass: \(removed)")
            #expect(left.map(\.0) == expected.sorted() && left.allSatisfy { $0.1 == 10 }, "left: \(left)")
        }
    }

    /// endpoint_purge's filter had a bound depending on the row (its window), so the index on the place
    /// (0007) could not narrow it: every pass read the whole table, under the endpoints of every hotel.
    @Test("the purge finds the old places among 20,000 recent ones through the index on the place, not by reading the table")
    func purgeUsesTheIndexOnThePlace() async throws {
        try await DeliveryWorkerTests.run { client, schema, _, _ in
            try await client.query(PostgresQuery(unsafeSQL: """
                INSERT INTO \(schema).endpoint_places (endpoint, place, limit_count, limit_window)
                SELECT 'e' || (i % 1000), clock_timestamp() - make_interval(secs => i % 60), 20, 60 FROM generate_series(1, 20000) AS i
                UNION ALL
                SELECT 'gone' || i, clock_timestamp() - interval '2 hours', 20, 60 FROM generate_series(1, 150) AS i
                """), logger: .complaintTest)
            try await client.query(PostgresQuery(unsafeSQL: "ANALYZE \(schema).endpoint_places"), logger: .complaintTest)
            let scans = """
                SELECT coalesce(sum(idx_scan), 0)::bigint FROM pg_stat_user_indexes
                WHERE schemaname = '\(schema)' AND indexrelname = 'endpoint_places_by_time'
                """
            // On one connection, whose statistics are published when it is idle after asking for it.
            // Several passes: PL/pgSQL plans the statement with the time known for its first calls on a
            // connection, then may keep a generic plan (the time unknown); both must use the index.
            let (removed, used) = try await client.withConnection { connection in
                var removed = 0
                for _ in 0..<8 {
                    removed += try await connection.query(
                        "SELECT \(unescaped: schema.rawValue).endpoint_purge(100, 1000)", logger: .complaintTest
                    ).collect()[0].decode(Int.self)
                }
                _ = try await connection.query("SELECT pg_stat_force_next_flush()", logger: .complaintTest).collect()
                var used = 0
                _ = try await eventually(timeout: .seconds(15)) {
                    used = try await connection.query(PostgresQuery(unsafeSQL: scans), logger: .complaintTest).collect()[0].decode(Int.self)
                    return used >= 8
                }
                return (removed, used)
            }
            #expect(removed == 150)
            // Before: none, a sequential scan of the 20,150 rows each time.
            #expect(used >= 8, "index scans of endpoint_places_by_time in 8 purges: \(used)")
        }
    }

    /// Only newcomers saw a changed limit: messages deferred to places booked under the old one kept their
    /// due time (a mistaken 1/h fixed to 20/min left them waiting up to an hour).
    @Test("a limit changed (1/h fixed to 20/min): a message deferred to its place under the old limit is made due again at the next call and delivered, not an hour later")
    func deferredUnderAnOldLimitComeBack() async throws {
        try await DeliveryWorkerTests.run(yaml: Self.groupYAML(rateLimit: "1/h")) { client, schema, receiver, mistaken in
            let intents = Self.robotIntents(3, endpoint: "group")
            try await Self.record(intents[..<2], schema: schema, client: client)
            try await Self.work([mistaken], orWaiting: true, schema: schema, client: client)
            #expect(receiver.requests.count == 1, "one call in the hour")
            var fixed = mistaken
            var rules = mistaken.rules.current
            rules.endpoints["group"]?.rateLimit = RateLimit(count: 20, window: .seconds(60))
            fixed.rules = LiveConfiguration(name: "rules", fixed: rules)
            try await Self.record([intents[2]], schema: schema, client: client)
            try await Self.work([fixed], orWaiting: false, schema: schema, client: client)
            #expect(receiver.requests.count == 3)
            let (row, item) = try await Self.settled(intents[1], schema: schema, client: client)
            #expect(row.status == "delivered" && row.attempts == 1 && item.attempts == 1, "\(row) \(item)")
        }
    }

    /// Re-paced at the endpoint's next call only, a message deferred under the old limit kept its due time
    /// while no new message came for the endpoint, and for good when the limit was removed (`none`: no
    /// place is taken, so nothing dropped the old ones).
    @Test(
        "a limit changed in the rules file (1/h to 20/min, or removed) with no new message for the endpoint: the one waiting under the old limit is due again and delivered",
        arguments: ["20/min", "none"])
    func limitChangedInTheRulesFile(to fixed: String) async throws {
        let yaml = Self.groupYAML(rateLimit: "1/h")
        try await DeliveryWorkerTests.run(yaml: yaml) { client, schema, receiver, fixedRules in
            let url = try #require(fixedRules.rules.current.endpoints["group"]?.url)
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("rules-\(UUID().uuidString).yaml").path
            defer { try? FileManager.default.removeItem(atPath: file) }
            let write = { (limit: String) throws in
                try yaml.replacingOccurrences(of: "${BASE}/robots/wecom", with: url).replacingOccurrences(of: "1/h", with: limit)
                    .write(toFile: file, atomically: true, encoding: .utf8)
            }
            try write("1/h")
            let rules = try LiveConfiguration(name: "rules", path: file) { file throws(ConfigurationFileError) in
                try RulesFile.load(file, environment: [:])
            }
            var performer = fixedRules
            performer.rules = rules
            let intents = Self.robotIntents(2, endpoint: "group")
            try await Self.record(intents, schema: schema, client: client)
            let changes = RateLimitChanges(rules: rules, pacer: performer.pacer, interval: .milliseconds(100), logger: .complaintTest)
            try await withRunningServices([DeliveryWorkerTests.worker(performer, schema: schema, client: client), changes]) {
                let handled = try await eventually(timeout: .seconds(20)) { try await Self.queueSettled(orWaiting: true, schema: schema, client: client) }
                #expect(handled)
                #expect(receiver.requests.count == 1, "one call in the hour")
                try write(fixed)
                #expect(rules.reload() == .loaded)
                let sent = try await eventually(timeout: .seconds(20)) { try await Self.queueSettled(orWaiting: false, schema: schema, client: client) }
                let queue = try await Self.queue(schema: schema, client: client)
                #expect(sent, "still waiting: \(queue)")
            }
            #expect(receiver.requests.count == 2)
            let (row, item) = try await Self.settled(intents[1], schema: schema, client: client)
            #expect(row.status == "delivered" && row.attempts == 1 && item.attempts == 1, "\(row) \(item)")
        }
    }

    /// Endpoints renamed or removed from the rules file kept one `endpoint_pacing` row each for good.
    @Test("pacing rows of endpoints no longer called go (in the background purge) once they have no place left and no hold in the last hour; held or busy ones stay")
    func unusedPacingRowsGo() async throws {
        try await DeliveryWorkerTests.run { client, schema, _, _ in
            try await client.query(PostgresQuery(unsafeSQL: """
                INSERT INTO \(schema).endpoint_pacing (endpoint, held_until) VALUES
                    ('gone', NULL), ('held-long-ago', clock_timestamp() - interval '2 hours'),
                    ('held', clock_timestamp() + interval '1 minute'), ('held-a-moment-ago', clock_timestamp() - interval '1 minute'),
                    ('busy', NULL);
                """), logger: .complaintTest)
            try await client.query(PostgresQuery(unsafeSQL: """
                INSERT INTO \(schema).endpoint_places (endpoint, place, limit_count, limit_window)
                VALUES ('busy', clock_timestamp() - interval '10 seconds', 20, 60)
                """), logger: .complaintTest)
            let pacer = EndpointPacer(client: client, schema: schema)
            #expect(try await pacer.admit(endpoint: "g", key: "a", limit: RateLimit(count: 20, window: .seconds(60)), logger: .complaintTest) == nil)
            _ = try await pacer.purge(logger: .complaintTest)
            let left = try await client.query(
                PostgresQuery(unsafeSQL: "SELECT endpoint FROM \(schema).endpoint_pacing ORDER BY endpoint"), logger: .complaintTest
            ).collect().map { try $0.decode(String.self) }
            #expect(left == ["busy", "g", "held", "held-a-moment-ago"])
        }
    }

    /// Every delivery to an endpoint asks the shared pacing first: it took a transaction of six round
    /// trips for the robot hold alone (BEGIN, search_path, two timeouts, the read, COMMIT), and another
    /// of eleven for a place under a rate limit.
    @Test("the shared pacing costs a delivery one round trip: to an endpoint without a rate limit, to one with a limit, and to one held")
    func onePacingRoundTripPerDelivery() async throws {
        let yaml = """
            endpoints:
              hook: {channel: webhook, url: "${BASE}/hook", secret: whsec_worker, timeoutSeconds: 2}
              group: {channel: wecom, url: "${BASE}/robots/wecom"}
            rules:
              - {name: r, on: [sla.breached], to: ["endpoint:group"], template: sla_breached_staff}
            """
        try await DeliveryWorkerTests.run(yaml: yaml) { client, schema, _, performer in
            // Only the pacing's statements go through the proxy.
            try await RoundTripCountingProxy.withCountedClient { proxied, proxy in
                var counted = performer
                counted.pacer = EndpointPacer(client: proxied, schema: schema)
                var hook = NotifierFixtures.intent(template: "sla_breached_staff", channel: .webhook, endpoint: "hook", trigger: "sla.breached")
                hook.rule = "r"
                hook.notificationID = NotificationIntent.notificationID(forKey: hook.idempotencyKey)
                var roundTrips: [String: Int] = [:]
                let robot = Self.robotIntents(2, endpoint: "group")
                for (name, intent) in [("no limit", hook), ("20/min", robot[0]), ("20/min, held", robot[1])] {
                    if name == "20/min, held" {
                        try await client.query(PostgresQuery(unsafeSQL: """
                            UPDATE \(schema).endpoint_pacing SET held_until = clock_timestamp() + interval '1 minute' WHERE endpoint = 'group'
                            """), logger: .complaintTest)
                    }
                    try await Self.record([intent], schema: schema, client: client)
                    let before = proxy.roundTrips
                    try await Self.work([counted], orWaiting: true, schema: schema, client: client)
                    roundTrips[name] = proxy.roundTrips - before
                }
                #expect(
                    roundTrips == ["no limit": 1, "20/min": 1, "20/min, held": 1], "round trips of the shared pacing per delivery: \(roundTrips)")
                let held = try await DeliveryWorkerTests.delivery(robot[1].notificationID, schema: schema, client: client)
                #expect(held.status == "deferred" && held.error?.hasPrefix("[endpoint_rate_limited]") == true, "\(held)")
            }
        }
    }

    /// Recording a robot's hold was a transaction of six round trips: a replica frozen between its INSERT
    /// and its COMMIT kept the endpoint's row locked, deferring every delivery to the endpoint.
    @Test("recording a robot's hold is one statement, one round trip; the pacing functions run with the notifier's schema, pg_catalog and pg_temp only")
    func holdIsOneStatement() async throws {
        try await DeliveryWorkerTests.run { client, schema, _, _ in
            try await RoundTripCountingProxy.withCountedClient { proxied, proxy in
                let pacer = EndpointPacer(client: proxied, schema: schema)
                // A first query opens the connection; only the hold is counted.
                _ = try await proxied.query("SELECT 1", logger: .complaintTest).collect()
                let before = proxy.roundTrips
                try await pacer.holdRobot(endpoint: "group", until: Date().addingTimeInterval(60), logger: .complaintTest)
                #expect(proxy.roundTrips - before == 1, "round trips to record a hold: \(proxy.roundTrips - before)")
            }
            let held = try await client.query(PostgresQuery(unsafeSQL: """
                SELECT held_until > clock_timestamp() + interval '50 seconds' FROM \(schema).endpoint_pacing WHERE endpoint = 'group'
                """), logger: .complaintTest).collect().map { try $0.decode(Bool.self) }
            #expect(held == [true])
            let paths = try await client.query(PostgresQuery(unsafeSQL: """
                SELECT p.proname, array_to_string(p.proconfig, ';') FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
                WHERE n.nspname = '\(schema)' AND p.proname LIKE 'endpoint\\_%' ORDER BY p.proname
                """), logger: .complaintTest).collect().map { try $0.decode((String, String).self) }
            #expect(paths.map(\.0) == ["endpoint_hold", "endpoint_pace", "endpoint_purge", "endpoint_repace"])
            #expect(paths.allSatisfy { $0.1 == "search_path=\(schema), pg_catalog, pg_temp" }, "\(paths)")
        }
    }

    /// On a database outage the background pass tried every endpoint, each failing after its own error
    /// (or lock timeout), with a warning each, every reload interval.
    @Test("the pacing tables failing: the background pass stops at its first failure with one warning naming how many endpoints were left, and waits longer before the next")
    func rateLimitChangesStopAtTheFirstFailure() async throws {
        try await DeliveryWorkerTests.run { client, schema, _, _ in
            try await client.query(
                PostgresQuery(unsafeSQL: "ALTER TABLE \(schema).endpoint_pacing RENAME TO endpoint_pacing_gone"), logger: .complaintTest)
            let endpoints = (0..<30).map { "  e\($0): {channel: wecom, url: \"http://127.0.0.1:9/e\($0)\"}" }.joined(separator: "\n")
            let rules = try NotifierFixtures.rules("endpoints:\n\(endpoints)\nrules: []")
            let logs = CapturedLogs()
            let changes = RateLimitChanges(
                rules: LiveConfiguration(name: "rules", fixed: rules), pacer: EndpointPacer(client: client, schema: schema),
                interval: .milliseconds(200), logger: Logger(label: "rate-limit-changes") { _ in logs })
            let warnings = { logs.entries.filter { $0.level == .warning } }
            try await withRunningServices([changes]) {
                #expect(try await eventually(timeout: .seconds(10)) { warnings().count >= 2 })
            }
            let seen = warnings()
            // Before: 30 warnings a pass, one per endpoint.
            #expect(seen.first?.metadata["endpoints_left"] == "30", "\(seen.map(\.metadata))")
            #expect(seen.count <= 3, "\(seen.count) warnings")
            #expect(seen.first?.metadata["retry_in"] != seen.dropFirst().first?.metadata["retry_in"], "the wait grows")
        }
    }

    @Test("rateLimit in the rules file: calls per time, none, or the channel's default")
    func configured() throws {
        let rules = try NotifierFixtures.rules("""
            endpoints:
              a: {channel: wecom, url: "http://127.0.0.1:9/a"}
              b: {channel: dingtalk, url: "http://127.0.0.1:9/b", rateLimit: 10/min}
              c: {channel: wecom, url: "http://127.0.0.1:9/c", rateLimit: none}
              d: {channel: webhook, url: "http://127.0.0.1:9/d", secret: s, rateLimit: 100/10m}
              e: {channel: webhook, url: "http://127.0.0.1:9/e", secret: s}
            rules: []
            """)
        #expect(rules.endpoints["a"]?.rateLimit == RateLimit(count: 20, window: .seconds(60)))
        #expect(rules.endpoints["b"]?.rateLimit == RateLimit(count: 10, window: .seconds(60)))
        #expect(rules.endpoints["c"]?.rateLimit == nil)
        #expect(rules.endpoints["d"]?.rateLimit == RateLimit(count: 100, window: .seconds(600)))
        #expect(rules.endpoints["e"]?.rateLimit == nil, "a webhook's limit is the integrator's to set")
        let error = #expect(throws: ConfigurationFileError.self) {
            _ = try NotifierFixtures.rules("endpoints:\n  a: {channel: wecom, url: \"http://127.0.0.1:9/a\", rateLimit: fast}\nrules: []")
        }
        #expect(error?.description.hasPrefix("rules.yaml:2: endpoints.a.rateLimit: must be calls per time such as 20/min") == true, "\(error?.description ?? "")")
    }
}
