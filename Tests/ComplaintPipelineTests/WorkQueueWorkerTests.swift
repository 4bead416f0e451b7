import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import Logging
import PostgresNIO
import RdKafkaTestKit
import Synchronization
import Testing

/// A stand-in for the outside world that remembers every call (by idempotency key) and answers as told.
final class RecordingPerformer: WorkPerformer {
    enum Behaviour: Sendable {
        case succeed, failTransiently, failPermanently, failPermanentlyQuotingNUL, deferTwiceThenSucceed
        /// Every call succeeds, but the stage's record of this key's outcome can never be written.
        case succeedWithUnrecordable(String)
        /// What comes before the call takes 300 ms (a slow database) and the call asks the work lease for 60 s:
        /// on a 1 s lease it is refused every time.
        case slowBeforeItsCall
    }

    let kinds = ["test-call"]
    let behaviour: Behaviour
    private let log = Mutex<[String]>([])

    init(_ behaviour: Behaviour = .succeed) {
        self.behaviour = behaviour
    }

    var calls: [String] { log.withLock { $0 } }

    func perform(_ item: WorkItem, logger: Logger) async throws -> String {
        let calls = log.withLock { $0.append(item.idempotencyKey); return $0.count }
        switch behaviour {
        case .succeed, .succeedWithUnrecordable: return "receipt for \(item.idempotencyKey)"
        case .failTransiently: throw WorkFailure.transient("receiver answered 503")
        case .failPermanently: throw WorkFailure.permanent("receiver answered 400: unknown recipient")
        case .failPermanentlyQuotingNUL: throw WorkFailure.permanent("receiver answered 400: bad\0request")
        case .slowBeforeItsCall:
            try await Task.sleep(for: .milliseconds(300))
            try WorkLease.beforeCall(taking: .seconds(60), "the test call")
            return "receipt for \(item.idempotencyKey)"
        case .deferTwiceThenSucceed:
            if calls <= 2 { throw WorkDeferral(reason: "not now", until: Date().addingTimeInterval(0.05)) }
            return "receipt for \(item.idempotencyKey)"
        }
    }

    /// The stage's own record of the outcome, written in the settling transaction (tables named plainly).
    func record(_ item: WorkItem, result: WorkResult, context: WorkContext) async throws -> [OutgoingEvent] {
        let outcome: String
        switch result {
        case .succeeded: outcome = "succeeded"
        case .willRetry: outcome = "retry"
        case .failed: outcome = "failed"
        case .deferred: outcome = "deferred"
        }
        let reason: String?
        switch result {
        case .succeeded(let text), .willRetry(let text, _), .failed(let text), .deferred(let text, _): reason = text
        }
        if case .succeedWithUnrecordable(let key) = behaviour, key == item.idempotencyKey {
            // A stage bug or a schema that drifted: 42P01, neither transient nor a validation failure.
            try await context.connection.query("INSERT INTO no_such_table VALUES (1)", logger: context.logger)
        }
        try await context.connection.query(
            "INSERT INTO receipts (idempotency_key, attempt, outcome, reason) VALUES (\(item.idempotencyKey), \(item.attempt), \(outcome), \(reason))",
            logger: context.logger)
        return []
    }
}

@Suite("Work queue worker", .timeLimit(.minutes(3)))
struct WorkQueueWorkerTests {
    struct Payload: Codable, Sendable { var to: String }

    static func withQueue<Result: Sendable>(_ body: (PostgresClient, RuntimeTables) async throws -> Result) async throws -> Result {
        try await withRuntimeTables { client, tables in
            try await client.query(PostgresQuery(unsafeSQL: """
                CREATE TABLE \(tables.schema).receipts (idempotency_key text NOT NULL, attempt int NOT NULL, outcome text NOT NULL, reason text)
                """), logger: .complaintTest)
            return try await body(client, tables)
        }
    }

    static func enqueue(_ keys: [String], maximumAttempts: Int = 5, tables: RuntimeTables, client: PostgresClient) async throws {
        try await client.transaction(schema: tables.schema, logger: .complaintTest) { connection in
            for key in keys {
                try await tables.workQueue.enqueue(
                    kind: "test-call", idempotencyKey: key, payload: Payload(to: "ops@example.com"), maximumAttempts: maximumAttempts,
                    on: connection, logger: .complaintTest)
            }
        }
    }

    static func worker(
        _ performer: RecordingPerformer, tables: RuntimeTables, client: PostgresClient, lease: Duration = .seconds(30),
        crashPoints: WorkQueueWorker.CrashPoints = .init()
    ) -> WorkQueueWorker {
        var configuration = WorkQueueWorker.Configuration()
        configuration.lease = lease
        configuration.pollInterval = .milliseconds(100)
        configuration.retry.initialDelay = .milliseconds(20)
        configuration.retry.maximumDelay = .milliseconds(50)
        return WorkQueueWorker(
            performer: performer, schema: tables.schema, client: client, configuration: configuration, crashPoints: crashPoints,
            logger: .complaintTest)
    }

    static func status(_ key: String, tables: RuntimeTables, client: PostgresClient) async throws -> (status: String, attempts: Int, error: String?) {
        let rows = try await client.query(
            "SELECT status, attempts, last_error FROM \(unescaped: tables.schema.rawValue).work_queue WHERE idempotency_key = \(key)",
            logger: .complaintTest
        ).collect()
        return try rows[0].decode((String, Int, String?).self)
    }

    static func receipts(tables: RuntimeTables, client: PostgresClient) async throws -> [String] {
        try await client.query(
            PostgresQuery(unsafeSQL: "SELECT outcome FROM \(tables.schema).receipts ORDER BY attempt"), logger: .complaintTest
        ).collect().map { try $0.decode(String.self) }
    }

    @Test("recording an intent twice with one key queues it once")
    func idempotentRecording() async throws {
        try await Self.withQueue { client, tables in
            try await Self.enqueue(["k-1", "k-1"], tables: tables, client: client)
            try await Self.enqueue(["k-1"], tables: tables, client: client)
            let counts = try await client.withConnection { try await tables.workQueue.counts(on: $0, logger: .complaintTest) }
            #expect(counts == [.pending: 1])
        }
    }

    @Test("an outcome the stage can never record is settled in the queue alone: the worker goes on, the call is not repeated")
    func unrecordableOutcome() async throws {
        try await Self.withQueue { client, tables in
            try await Self.enqueue(["notify-bad", "notify-good"], tables: tables, client: client)
            let performer = RecordingPerformer(.succeedWithUnrecordable("notify-bad"))
            try await withRunningServices([Self.worker(performer, tables: tables, client: client)]) {
                let settled = try await eventually(timeout: .seconds(20)) {
                    let bad = try await Self.status("notify-bad", tables: tables, client: client).status
                    let good = try await Self.status("notify-good", tables: tables, client: client).status
                    return bad == "succeeded" && good == "succeeded"
                }
                #expect(settled)
            }
            #expect(performer.calls.sorted() == ["notify-bad", "notify-good"])
            #expect(try await Self.receipts(tables: tables, client: client) == ["succeeded"])
            let outcome = try await client.query(
                "SELECT outcome FROM \(unescaped: tables.schema.rawValue).work_queue WHERE idempotency_key = 'notify-bad'", logger: .complaintTest
            ).collect()[0].decode(String.self)
            #expect(outcome.contains("the stage could not record this outcome"))
            #expect(outcome.contains("SQLSTATE 42P01: relation \"no_such_table\" does not exist"))
        }
    }

    @Test("a worker killed after the call, before recording it: the call is repeated with the same key")
    func crashAfterTheCall() async throws {
        try await Self.withQueue { client, tables in
            try await Self.enqueue(["notify-1"], tables: tables, client: client)
            let performer = RecordingPerformer()
            var crashPoints = WorkQueueWorker.CrashPoints()
            crashPoints.afterPerform = { _ in throw SimulatedCrash() }
            let dying = Self.worker(performer, tables: tables, client: client, lease: .milliseconds(500), crashPoints: crashPoints)
            let failure = await runUntilFailure([dying], logger: .complaintTest)
            #expect(failure is SimulatedCrash)
            #expect(performer.calls == ["notify-1"])
            #expect(try await Self.status("notify-1", tables: tables, client: client).status == "pending", "the outcome was never recorded")

            // The dead worker's lease runs out; a new worker claims the intent and calls again, same key.
            let next = Self.worker(performer, tables: tables, client: client)
            try await withRunningServices([next]) {
                let done = try await eventually(timeout: .seconds(20)) {
                    try await Self.status("notify-1", tables: tables, client: client).status == "succeeded"
                }
                #expect(done)
            }
            #expect(performer.calls == ["notify-1", "notify-1"])
            #expect(try await Self.status("notify-1", tables: tables, client: client).attempts == 2)
            #expect(try await Self.receipts(tables: tables, client: client) == ["succeeded"])
        }
    }

    @Test("a worker killed before the call: the call is made once, after the lease runs out")
    func crashBeforeTheCall() async throws {
        try await Self.withQueue { client, tables in
            try await Self.enqueue(["notify-2"], tables: tables, client: client)
            let performer = RecordingPerformer()
            var crashPoints = WorkQueueWorker.CrashPoints()
            crashPoints.beforePerform = { _ in throw SimulatedCrash() }
            let dying = Self.worker(performer, tables: tables, client: client, lease: .milliseconds(500), crashPoints: crashPoints)
            #expect(await runUntilFailure([dying], logger: .complaintTest) is SimulatedCrash)
            #expect(performer.calls.isEmpty)

            let next = Self.worker(performer, tables: tables, client: client)
            try await withRunningServices([next]) {
                let done = try await eventually(timeout: .seconds(20)) {
                    try await Self.status("notify-2", tables: tables, client: client).status == "succeeded"
                }
                #expect(done)
            }
            #expect(performer.calls == ["notify-2"])
            #expect(try await Self.receipts(tables: tables, client: client) == ["succeeded"])
        }
    }

    @Test("a worker killed during the last attempt: the intent is given up, not called again (a call that crashes would crash every replica)")
    func crashDuringTheLastAttempt() async throws {
        try await Self.withQueue { client, tables in
            try await Self.enqueue(["notify-last"], maximumAttempts: 1, tables: tables, client: client)
            let performer = RecordingPerformer()
            var crashPoints = WorkQueueWorker.CrashPoints()
            crashPoints.beforePerform = { _ in throw SimulatedCrash() }
            let dying = Self.worker(performer, tables: tables, client: client, lease: .milliseconds(300), crashPoints: crashPoints)
            #expect(await runUntilFailure([dying], logger: .complaintTest) is SimulatedCrash)

            try await withRunningServices([Self.worker(performer, tables: tables, client: client)]) {
                let failed = try await eventually(timeout: .seconds(20)) {
                    try await Self.status("notify-last", tables: tables, client: client).status == "failed"
                }
                #expect(failed)
            }
            #expect(performer.calls.isEmpty)
            let status = try await Self.status("notify-last", tables: tables, client: client)
            #expect(status.error?.hasPrefix("gave up after 1 attempts: the last one's outcome is unknown") == true, "\(status.error ?? "")")
            #expect(try await Self.receipts(tables: tables, client: client) == ["failed"])
        }
    }

    @Test("transient failures are retried up to the limit, then the intent is marked failed with the reason")
    func retriesStopAtTheLimit() async throws {
        try await Self.withQueue { client, tables in
            try await Self.enqueue(["notify-3"], maximumAttempts: 3, tables: tables, client: client)
            let performer = RecordingPerformer(.failTransiently)
            try await withRunningServices([Self.worker(performer, tables: tables, client: client)]) {
                let failed = try await eventually(timeout: .seconds(20)) {
                    try await Self.status("notify-3", tables: tables, client: client).status == "failed"
                }
                #expect(failed)
            }
            let status = try await Self.status("notify-3", tables: tables, client: client)
            #expect(status.attempts == 3)
            #expect(status.error == "gave up after 3 attempts: receiver answered 503")
            #expect(performer.calls == ["notify-3", "notify-3", "notify-3"])
            #expect(try await Self.receipts(tables: tables, client: client) == ["retry", "retry", "failed"])
        }
    }

    @Test("a deferral (\"not now\") uses no attempt: deferred twice on its only attempt, the intent is still performed")
    func deferralUsesNoAttempt() async throws {
        try await Self.withQueue { client, tables in
            try await Self.enqueue(["notify-later"], maximumAttempts: 1, tables: tables, client: client)
            let performer = RecordingPerformer(.deferTwiceThenSucceed)
            try await withRunningServices([Self.worker(performer, tables: tables, client: client)]) {
                let done = try await eventually(timeout: .seconds(20)) {
                    try await Self.status("notify-later", tables: tables, client: client).status == "succeeded"
                }
                #expect(done)
            }
            #expect(performer.calls == ["notify-later", "notify-later", "notify-later"])
            #expect(try await Self.status("notify-later", tables: tables, client: client).attempts == 1, "only the call that was made counts")
            #expect(try await Self.receipts(tables: tables, client: client).sorted() == ["deferred", "deferred", "succeeded"])
        }
    }

    @Test("a call refused for its lease again and again (slow steps before it) uses an attempt after leaseRefusalsBeforeAttempt refusals in a row, and ends")
    func leaseRefusalsEnd() async throws {
        try await Self.withQueue { client, tables in
            try await Self.enqueue(["notify-slow"], maximumAttempts: 2, tables: tables, client: client)
            let performer = RecordingPerformer(.slowBeforeItsCall)
            var configuration = WorkQueueWorker.Configuration()
            configuration.lease = .seconds(1)
            configuration.leaseMargin = .milliseconds(100)
            configuration.leaseDeferral = .milliseconds(50)
            configuration.leaseRefusalsBeforeAttempt = 2
            configuration.pollInterval = .milliseconds(100)
            configuration.retry.initialDelay = .milliseconds(20)
            configuration.retry.maximumDelay = .milliseconds(50)
            let worker = WorkQueueWorker(performer: performer, schema: tables.schema, client: client, configuration: configuration, logger: .complaintTest)
            try await withRunningServices([worker]) {
                let failed = try await eventually(timeout: .seconds(20)) {
                    try await Self.status("notify-slow", tables: tables, client: client).status == "failed"
                }
                #expect(failed, "never given up: deferred for ever without an attempt")
            }
            let status = try await Self.status("notify-slow", tables: tables, client: client)
            #expect(status.attempts == 2)
            #expect(status.error?.hasPrefix("gave up after 2 attempts: [lease_running_out] the test call not made") == true, "\(status.error ?? "")")
            #expect(status.error?.hasSuffix("(refused 4 times in a row: counted as an attempt)") == true, "\(status.error ?? "")")
            // Two refusals free, then one attempt each.
            #expect(performer.calls.count == 4)
            #expect(try await Self.receipts(tables: tables, client: client).sorted() == ["deferred", "deferred", "failed", "retry"])
        }
    }

    @Test("a permanent failure is not retried")
    func permanentFailure() async throws {
        try await Self.withQueue { client, tables in
            try await Self.enqueue(["notify-4"], tables: tables, client: client)
            let performer = RecordingPerformer(.failPermanently)
            try await withRunningServices([Self.worker(performer, tables: tables, client: client)]) {
                let failed = try await eventually(timeout: .seconds(20)) {
                    try await Self.status("notify-4", tables: tables, client: client).status == "failed"
                }
                #expect(failed)
            }
            #expect(performer.calls == ["notify-4"])
            #expect(try await Self.status("notify-4", tables: tables, client: client).error == "receiver answered 400: unknown recipient")
        }
    }

    /// A receiver's answer is quoted in the reason, and PostgreSQL text refuses NUL: recording it
    /// failed for ever, and the worker, waiting for the whole batch, stopped serving its channel.
    @Test("a reason quoting NUL from a receiver's answer is recorded, not retried for ever")
    func reasonQuotingNUL() async throws {
        try await Self.withQueue { client, tables in
            try await Self.enqueue(["notify-nul"], tables: tables, client: client)
            let performer = RecordingPerformer(.failPermanentlyQuotingNUL)
            try await withRunningServices([Self.worker(performer, tables: tables, client: client)]) {
                let failed = try await eventually(timeout: .seconds(20)) {
                    try await Self.status("notify-nul", tables: tables, client: client).status == "failed"
                }
                #expect(failed)
            }
            #expect(try await Self.status("notify-nul", tables: tables, client: client).error == "receiver answered 400: bad\u{FFFD}request")
            let reasons = try await client.query(
                PostgresQuery(unsafeSQL: "SELECT reason FROM \(tables.schema).receipts"), logger: .complaintTest
            ).collect().map { try $0.decode(String?.self) }
            #expect(reasons == ["receiver answered 400: bad\u{FFFD}request"], "the stage's own record gets the same storable text")
        }
    }

    @Test("two workers share the queue and never perform an intent twice")
    func twoWorkers() async throws {
        try await Self.withQueue { client, tables in
            let keys = (0..<40).map { "bulk-\($0)" }
            try await Self.enqueue(keys, tables: tables, client: client)
            let performer = RecordingPerformer()
            let first = Self.worker(performer, tables: tables, client: client)
            let second = Self.worker(performer, tables: tables, client: client)
            try await withRunningServices([first, second]) {
                let done = try await eventually(timeout: .seconds(30)) {
                    try await client.withConnection { try await tables.workQueue.counts(on: $0, logger: .complaintTest) } == [.succeeded: 40]
                }
                #expect(done)
            }
            #expect(performer.calls.count == 40)
            #expect(Set(performer.calls) == Set(keys))
        }
    }
}
