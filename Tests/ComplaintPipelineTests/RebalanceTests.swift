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
}
