import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import RdKafka
import RdKafkaTestKit
import Synchronization
import Testing

/// A second replica joining the group takes a partition from the first: the first must let go of what it
/// read ahead of that partition and finish what it is applying before the second reads the partition,
/// or both prepare the same events (the outside call, e.g. the external classifier model, made twice).
@Suite("Pipeline rebalances", .timeLimit(.minutes(3)))
struct RebalanceTests {
    /// Counts the preparations of each event over every replica; slowed, so that a replica still holds
    /// a backlog when the group rebalances.
    struct CountingPreparer: PreparingEventHandler {
        final class Calls: Sendable {
            let byID = Mutex<[UUID: Int]>([:])
        }

        let inner: RecordingHandler
        let calls: Calls
        let delay: Duration

        func prepare(_ event: EventEnvelope<ComplaintReceived>, context: PreparationContext) async throws -> UUID {
            calls.byID.withLock { $0[event.id, default: 0] += 1 }
            // Stands for the outside call's latency (not a synchronisation).
            try await Task.sleep(for: delay)
            return event.id
        }

        func handle(_ event: EventEnvelope<ComplaintReceived>, prepared: UUID, context: HandlerContext) async throws -> [OutgoingEvent] {
            try await inner.handle(event, context: context)
        }
    }

    @Test("a replica joining mid-backlog: every event is prepared once, and applied once", arguments: ["range,roundrobin", "cooperative-sticky"])
    func joiningReplicaPreparesNothingTwice(assignors: String) async throws {
        try await PipelineWorld.with { world in
            let events = try (0..<400).map { _ in try EventFixtures.received() }
            try await world.publish(events)
            let calls = CountingPreparer.Calls()
            let handler = CountingPreparer(inner: world.handler, calls: calls, delay: .milliseconds(60))
            let assignment = ["partition.assignment.strategy": assignors]
            let first = try world.stage(input: StageInput(world.input, preparing: handler), kafkaProperties: assignment)
            let second = try world.stage(input: StageInput(world.input, preparing: handler), kafkaProperties: assignment)
            try await withRunningServices([first.producer, first.consumer, first.pipeline]) {
                #expect(try await eventually { try await world.processedCount >= 20 })
                try await withRunningServices([second.producer, second.consumer, second.pipeline]) {
                    // The group rebalances while the first replica still has a backlog.
                    let joined = await eventually(timeout: .seconds(90)) { !second.consumer.assignment.isEmpty }
                    let appliedAtJoin = try await world.processedCount
                    #expect(joined && appliedAtJoin < 400, "applied when the second replica took a partition: \(appliedAtJoin)")
                    let all = try await eventually(timeout: .seconds(120)) { try await world.processedCount == 400 }
                    #expect(all)
                    // The second replica did take a partition: the group rebalanced mid-backlog.
                    #expect(second.consumer.assignment.count == 1 && first.consumer.assignment.count == 1)
                }
            }
            let counts = calls.byID.withLock { $0 }
            let twice = counts.filter { $0.value > 1 }
            #expect(twice.count == 0, "\(twice.count) events prepared more than once, up to \(twice.values.max() ?? 0) times")
            #expect(Set(counts.keys) == Set(events.map(\.id)))
            #expect(try await world.count("SELECT count(*)::int FROM \(world.tables.schema).effects") == 400)
        }
    }

    /// What the first replica's hooks saw, and what both replicas settled.
    final class FallbackRecord: Sendable {
        /// Partitions whose shared transaction was made to fail once.
        let failed = Mutex<Set<Int32>>([])
        /// Messages of the shared transactions that were rolled back.
        let fellBack = Mutex<Set<MessageOrigin>>([])
        /// Outcomes by replica (0: first, 1: second), in order.
        let settled = Mutex<[(replica: Int, origin: MessageOrigin, outcome: MessageOutcome)]>([])
        /// The partitions the second replica took, and how many outcomes there were when it had them.
        let handedOver = Mutex<(partitions: Set<Int32>, settledBefore: Int)?>(nil)
    }

    /// Prepares quickly, but applies the events of a rolled-back shared transaction slowly (one at a
    /// time, as after a database failure), so that the fallback outlasts the revocation wait.
    struct SlowFallbackPreparer: PreparingEventHandler {
        let inner: RecordingHandler
        let record: FallbackRecord

        func prepare(_ event: EventEnvelope<ComplaintReceived>, context: PreparationContext) async throws -> UUID {
            try await Task.sleep(for: .milliseconds(10))
            return event.id
        }

        func handle(_ event: EventEnvelope<ComplaintReceived>, prepared: UUID, context: HandlerContext) async throws -> [OutgoingEvent] {
            if record.fellBack.withLock({ $0.contains(context.origin) }) {
                // Stands for a slow database (not a synchronisation).
                try await Task.sleep(for: .milliseconds(400))
            }
            return try await inner.handle(event, context: context)
        }
    }

    struct InjectedFailure: Error {}

    @Test(
        "a rebalance during the one-at-a-time fallback of a rolled-back shared transaction: the lane stores each event's offset and stops once fenced",
        arguments: ["range,roundrobin", "cooperative-sticky"])
    func rebalanceDuringSharedFallback(assignors: String) async throws {
        try await PipelineWorld.with { world in
            let events = try (0..<400).map { _ in try EventFixtures.received() }
            try await world.publish(events)
            let record = FallbackRecord()
            let handler = SlowFallbackPreparer(inner: world.handler, record: record)
            var firstHooks = EventPipelineService.CrashPoints()
            // Each partition's shared transaction holding offset 64 fails once (not a crash): it is rolled
            // back and its events are applied one at a time.
            firstHooks.beforeCommit = { message in
                if message.offset.rawValue >= 64, record.failed.withLock({ $0.insert(message.partition.rawValue).inserted }) {
                    throw InjectedFailure()
                }
            }
            firstHooks.fellBack = { origins in record.fellBack.withLock { $0.formUnion(origins) } }
            firstHooks.settled = { origin, outcome in record.settled.withLock { $0.append((0, origin, outcome)) } }
            var secondHooks = EventPipelineService.CrashPoints()
            secondHooks.settled = { origin, outcome in record.settled.withLock { $0.append((1, origin, outcome)) } }
            let assignment = ["partition.assignment.strategy": assignors]
            let first = try world.stage(input: StageInput(world.input, preparing: handler), crashPoints: firstHooks, kafkaProperties: assignment)
            let second = try world.stage(input: StageInput(world.input, preparing: handler), crashPoints: secondHooks, kafkaProperties: assignment)
            try await withRunningServices([first.producer, first.consumer, first.pipeline]) {
                // Both partitions are in their slow fallback (32 events, ~13 s) when the second replica joins.
                let bothFellBack = await eventually { Set(record.fellBack.withLock { $0 }.map(\.partition)).count == 2 }
                #expect(bothFellBack)
                try await withRunningServices([second.producer, second.consumer, second.pipeline]) {
                    let joined = await eventually(timeout: .seconds(90)) { !second.consumer.assignment.isEmpty }
                    #expect(joined)
                    // The first replica let go of these (its revocation wait is over): what it settles of
                    // them from here on, it applies beside their new owner.
                    let moved = Set(second.consumer.assignment.map(\.partition.rawValue))
                    record.handedOver.withLock { $0 = (moved, record.settled.withLock { $0.count }) }
                    let all = try await eventually(timeout: .seconds(120)) { try await world.processedCount == 400 }
                    #expect(all)
                }
            }
            let settled = record.settled.withLock { $0 }
            let fellBack = record.fellBack.withLock { $0 }
            // The partition moved in the middle of the fallback: the second replica settled some of its events.
            #expect(settled.contains { $0.replica == 1 && fellBack.contains($0.origin) })
            // The old lane stopped once fenced (the event in hand at most): it did not go on applying the
            // moved partition's events beside their new owner.
            let (moved, handoverIndex) = try #require(record.handedOver.withLock { $0 })
            let late = settled[handoverIndex...].filter { $0.replica == 0 && moved.contains($0.origin.partition) }
            #expect(late.count <= moved.count, "the first replica settled \(late.count) events of a partition it had let go: \(late.map(\.origin))")
            // It stored the offset of each event it settled: the next owner read again at most the event in
            // hand at the fence, not every event applied since the shared transaction failed. (An eager
            // rebalance's commit is refused by librdkafka's mock cluster, REBALANCE_IN_PROGRESS: there the
            // next owner starts from the last automatic commit.)
            if assignors == "cooperative-sticky" {
                let duplicates = settled.filter { $0.outcome == .duplicate }
                #expect(duplicates.count <= 2, "\(duplicates.count) events settled again as duplicates: \(duplicates.map(\.origin))")
            }
            #expect(try await world.count("SELECT count(*)::int FROM \(world.tables.schema).effects") == 400)
            #expect(try await world.count("SELECT count(DISTINCT event_id)::int FROM \(world.tables.schema).effects") == 400)
        }
    }
}
