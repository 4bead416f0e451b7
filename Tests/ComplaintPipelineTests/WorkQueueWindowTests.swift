import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import Logging
import PostgresNIO
import RdKafkaTestKit
import Synchronization
import Testing

/// A performer whose call for one key hangs until released (a webhook that does not answer); the
/// others answer at once.
final class OneSlowCallPerformer: WorkPerformer {
    let kinds = ["test-call"]
    let slowKey: String
    private let released: AsyncStream<Void>
    private let done = Mutex<[String]>([])

    init(slowKey: String, released: AsyncStream<Void>) {
        self.slowKey = slowKey
        self.released = released
    }

    var completed: [String] { done.withLock { $0 } }

    func perform(_ item: WorkItem, logger: Logger) async throws -> String {
        if item.idempotencyKey == slowKey {
            for await _ in released {}
        }
        done.withLock { $0.append(item.idempotencyKey) }
        return "ok"
    }
}

/// The worker claimed `concurrency` intents, ran them, and waited for the slowest before claiming
/// again: one hanging call left the other slots idle until it timed out.
@Suite("Work queue window", .timeLimit(.minutes(2)))
struct WorkQueueWindowTests {
    @Test("one slow call holds only its own slot: the others' intents go on being performed")
    func slowCallHoldsOneSlot() async throws {
        try await WorkQueueWorkerTests.withQueue { client, tables in
            let (released, release) = AsyncStream<Void>.makeStream()
            defer { release.finish() }
            // The slow one first, so that it is in the first claim.
            try await WorkQueueWorkerTests.enqueue(["slow"], tables: tables, client: client)
            let quick = (0..<12).map { "quick-\($0)" }
            try await WorkQueueWorkerTests.enqueue(quick, tables: tables, client: client)
            let performer = OneSlowCallPerformer(slowKey: "slow", released: released)
            var configuration = WorkQueueWorker.Configuration()
            configuration.concurrency = 2
            configuration.pollInterval = .milliseconds(100)
            let worker = WorkQueueWorker(
                performer: performer, schema: tables.schema, client: client, configuration: configuration, logger: .complaintTest)
            try await withRunningServices([worker]) {
                let others = await eventually(timeout: .seconds(20)) { Set(performer.completed) == Set(quick) }
                #expect(others, "performed while the slow call hung: \(performer.completed)")
                release.finish()
                #expect(await eventually(timeout: .seconds(20)) { performer.completed.contains("slow") })
            }
        }
    }
}
