import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import Logging
import NIOCore
import PostgresNIO
import Prometheus
import Testing

@Suite("BacklogGauges", .timeLimit(.minutes(2)))
struct BacklogGaugesTests {
    /// The value of the sample named `name` for `schema` in a Prometheus exposition.
    static func value(_ name: String, schema: SchemaName, in exposition: String) -> Double? {
        let prefix = "\(name){schema=\"\(schema)\"} "
        return exposition.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Double($0.dropFirst(prefix.count)) }
    }

    @Test("unsent outbox rows and overdue work show as counts and the age of the oldest; empty tables as zero")
    func backlog() async throws {
        try await withRuntimeTables { client, tables in
            let registry = PrometheusCollectorRegistry()
            let gauges = BacklogGauges(tables: tables, client: client, factory: PrometheusMetricsFactory(registry: registry), logger: .complaintTest)
            try await gauges.sampleOnce()
            let empty = registry.emitToString()
            for name in ["outbox_unsent_messages", "outbox_oldest_unsent_age_seconds", "work_queue_pending_items", "work_queue_oldest_overdue_age_seconds"] {
                #expect(Self.value(name, schema: tables.schema, in: empty) == 0, "\(name)")
            }

            _ = try await client.transaction(logger: .complaintTest) { connection in
                try await tables.outbox.enqueue(
                    (0..<2).map { OutboxRow(topic: "t", aggregateKey: "k\($0)", key: nil, value: ByteBuffer(string: "v")) },
                    on: connection, logger: .complaintTest)
                // One intent due now, one due tomorrow: both pending, only the first overdue.
                _ = try await tables.workQueue.enqueue(kind: "email", idempotencyKey: "now", payload: ["to": "guest"], maximumAttempts: 3, on: connection, logger: .complaintTest)
                _ = try await tables.workQueue.enqueue(
                    kind: "email", idempotencyKey: "later", payload: ["to": "guest"], maximumAttempts: 3, dueAt: Date().addingTimeInterval(86_400),
                    on: connection, logger: .complaintTest)
            }
            // Sampled ten minutes on: the oldest row and the overdue intent have waited that long.
            try await gauges.sampleOnce(now: Date().addingTimeInterval(600))
            let behind = registry.emitToString()
            #expect(Self.value("outbox_unsent_messages", schema: tables.schema, in: behind) == 2)
            #expect(Self.value("work_queue_pending_items", schema: tables.schema, in: behind) == 2)
            let outboxAge = try #require(Self.value("outbox_oldest_unsent_age_seconds", schema: tables.schema, in: behind))
            let workAge = try #require(Self.value("work_queue_oldest_overdue_age_seconds", schema: tables.schema, in: behind))
            #expect((590...620).contains(outboxAge))
            #expect((590...620).contains(workAge))
        }
    }

    /// A failing sample left the gauges at their last values, perhaps 0, and the alerts built on them
    /// blind, with nothing on /metrics to tell.
    @Test("the time of the last good sample is a gauge: a failing sample leaves it behind")
    func sampleTime() async throws {
        try await withRuntimeTables { client, tables in
            let registry = PrometheusCollectorRegistry()
            let gauges = BacklogGauges(tables: tables, client: client, factory: PrometheusMetricsFactory(registry: registry), logger: .complaintTest)
            let sampled = Date(timeIntervalSince1970: 1_800_000_000)
            try await gauges.sampleOnce(now: sampled)
            #expect(Self.value("backlog_sampled_timestamp_seconds", schema: tables.schema, in: registry.emitToString()) == 1_800_000_000)
            // A sample that cannot be taken (here, a table gone: a revoked grant or a renamed column does the same).
            try await client.query(PostgresQuery(unsafeSQL: "DROP TABLE \(tables.schema).outbox"), logger: .complaintTest)
            await #expect(throws: (any Error).self) { try await gauges.sampleOnce(now: sampled.addingTimeInterval(600)) }
            #expect(Self.value("backlog_sampled_timestamp_seconds", schema: tables.schema, in: registry.emitToString()) == 1_800_000_000)
        }
    }

    /// Intents of a kind no performer handles (a release renamed it) stayed pending for ever, unseen:
    /// nothing claims or purges them, and the oldest-overdue gauge pinned at their age.
    @Test("pending intents of a kind no worker handles: a warning naming kind and count, a gauge, the overdue age left to handled kinds")
    func unhandledKinds() async throws {
        try await withRuntimeTables { client, tables in
            _ = try await client.transaction(logger: .complaintTest) { connection in
                _ = try await tables.workQueue.enqueue(kind: "email", idempotencyKey: "now", payload: ["to": "guest"], maximumAttempts: 3, on: connection, logger: .complaintTest)
                for key in ["fax-1", "fax-2"] {
                    _ = try await tables.workQueue.enqueue(
                        kind: "fax", idempotencyKey: key, payload: ["to": "desk"], maximumAttempts: 3, dueAt: Date().addingTimeInterval(-3600),
                        on: connection, logger: .complaintTest)
                }
            }
            let registry = PrometheusCollectorRegistry()
            let logs = CapturedLogs()
            let gauges = BacklogGauges(
                tables: tables, client: client, handledKinds: ["email", "sms"], factory: PrometheusMetricsFactory(registry: registry),
                logger: Logger(label: "backlog", factory: { _ in logs }))
            try await gauges.sampleOnce(now: Date().addingTimeInterval(600))
            try await gauges.sampleOnce(now: Date().addingTimeInterval(600))
            let exposition = registry.emitToString()
            #expect(Self.value("work_queue_unhandled_items", schema: tables.schema, in: exposition) == 2)
            #expect(Self.value("work_queue_pending_items", schema: tables.schema, in: exposition) == 3)
            let age = try #require(Self.value("work_queue_oldest_overdue_age_seconds", schema: tables.schema, in: exposition))
            #expect((590...620).contains(age), "the email intent's age, not the fax intents' (\(age))")
            let warnings = logs.entries.filter { $0.level == .warning }
            #expect(warnings.count == 1, "one warning for two samples finding the same kinds: \(warnings.map(\.message))")
            #expect(warnings.first?.metadata["work.kind"] == "fax: 2")
            // Reported, not deleted.
            let counts = try await client.withConnection { try await tables.workQueue.counts(on: $0, logger: .complaintTest) }
            #expect(counts == [.pending: 3])
        }
    }
}
