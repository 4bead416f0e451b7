import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import PostgresNIO
import RdKafkaTestKit
import Testing

/// A worker or relay whose every round failed (a revoked grant, a broken column) kept running, so
/// readiness stayed green and only a warning log repeated.
@Suite("Stalled loops", .timeLimit(.minutes(2)))
struct StalledLoopTests {
    @Test("a worker whose claims all fail is reported stalled, and no longer once a claim works")
    func stalledWorker() async throws {
        try await WorkQueueWorkerTests.withQueue { client, tables in
            let health = StageHealth()
            var configuration = WorkQueueWorker.Configuration()
            configuration.pollInterval = .milliseconds(50)
            let worker = WorkQueueWorker(
                performer: RecordingPerformer(), schema: tables.schema, client: client, configuration: configuration,
                rounds: RoundReporter(health: health, name: "worker test-call"), logger: .complaintTest)
            // Claims fail: the table is not where the worker looks.
            try await client.query(PostgresQuery(unsafeSQL: "ALTER TABLE \(tables.schema).work_queue RENAME TO work_queue_away"), logger: .complaintTest)
            try await withRunningServices([worker]) {
                let stalled = await eventually(timeout: .seconds(20)) { health.stalled(for: .zero).first?.hasPrefix("worker test-call has failed every round") == true }
                #expect(stalled, "\(health.stalled(for: .zero))")
                #expect(health.stalled(for: .seconds(3600)).isEmpty, "not for an hour yet")
                try await client.query(PostgresQuery(unsafeSQL: "ALTER TABLE \(tables.schema).work_queue_away RENAME TO work_queue"), logger: .complaintTest)
                #expect(await eventually(timeout: .seconds(30)) { health.stalled(for: .zero).isEmpty })
            }
        }
    }
}
