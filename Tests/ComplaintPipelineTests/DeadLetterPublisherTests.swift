import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import RdKafka
import RdKafkaTestKit
import ServiceLifecycle
import Synchronization
import Testing

@Suite("DeadLetterPublisher", .timeLimit(.minutes(3)))
struct DeadLetterPublisherTests {
    /// A dead letter sent while the stage shut down used to be cancelled after it was produced: the
    /// producer delivered it while draining, but the publisher answered "not sent", the offset was not
    /// stored, and after the restart the redelivered message was dead-lettered a second time.
    @Test("a dead letter sent during graceful shutdown is awaited and settles its message: one record, none again after the restart")
    func deadLetterDuringShutdown() async throws {
        try await PipelineWorld.with { world in
            let poison = try EventFixtures.received()
            try await world.publish([poison], partition: 0)
            let (entered, enteredContinuation) = AsyncStream<Void>.makeStream()
            let holding = Mutex(true)
            var handler = world.handler
            handler.beforeApplying = { event, _ in
                guard event.id == poison.id else { return }
                if holding.withLock({ $0 }) {
                    enteredContinuation.yield()
                    // Held until the stage shuts down, then it fails for good: dead-lettered during shutdown.
                    try? await gracefulShutdown()
                }
                throw RejectedEvent("the test's permanent failure")
            }
            let outcomes = LockedOutcomes()
            var hooks = EventPipelineService.CrashPoints()
            hooks.settled = { _, outcome in outcomes.append(outcome) }
            let first = try world.stage(handler, crashPoints: hooks)
            try await withRunningServices([first.producer, first.consumer, first.pipeline]) {
                // Returning shuts the stage down (pipeline first, the producer last).
                var iterator = entered.makeAsyncIterator()
                _ = await iterator.next()
            }
            #expect(outcomes.all == [.deadLettered], "the dead letter sent during shutdown settled the message")

            // Restart in the same group; a later event on the same partition is applied only after the
            // poison message was settled again, if it was redelivered.
            holding.withLock { $0 = false }
            let later = try EventFixtures.received()
            try await world.publish([later], partition: 0)
            let restarted = try world.stage(handler)
            try await withRunningServices([restarted.producer, restarted.consumer, restarted.pipeline]) {
                let applied = try await eventually(timeout: .seconds(60)) { try await world.effects(of: later.id) == 1 }
                #expect(applied, "the later event was applied after the restart")
            }
            let letters = try await world.kafka.messageCount(of: world.deadLetterTopic)
            #expect(letters == 1, "dead letters for the one poison message: \(letters)")
        }
    }
}
