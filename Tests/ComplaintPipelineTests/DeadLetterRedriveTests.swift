import ComplaintEvents
import ComplaintPipeline
import ComplaintTesting
import EventTail
import Foundation
import RdKafka
import RdKafkaTestKit
import Synchronization
import Testing

/// `redress deadletter redrive` against a real stage: what the services dead-letter comes back once its
/// cause is fixed, and the inbox keeps a redrive from applying anything twice.
@Suite("dead-letter redrive through a stage", .timeLimit(.minutes(3)))
struct DeadLetterRedriveTests {
    /// Whether the handler's cause of failure is still there.
    final class Cause: Sendable {
        private let present = Mutex(true)
        func fix() { present.withLock { $0 = false } }
        var isPresent: Bool { present.withLock { $0 } }
    }

    @Test("an event dead-lettered for a missing hotel is applied exactly once after the fix and a redrive; a second redrive is skipped by its id")
    func redriveAfterFix() async throws {
        try await PipelineWorld.with { world in
            // Stamped now, as intake stamps what it publishes (the fixture's time is long past the inbox window).
            var event = try EventFixtures.received()
            event.time = Date()
            let other = try EventFixtures.received()
            let cause = Cause()
            let failing = event.id
            var handler = world.handler
            handler.beforeApplying = { received, _ in
                if received.id == failing && cause.isPresent { throw RejectedEvent("no hotel \(received.hotelID) in the organisation file") }
            }
            let outcomes = LockedOutcomes()
            var hooks = EventPipelineService.CrashPoints()
            hooks.settled = { _, outcome in outcomes.append(outcome) }
            // The inbox horizon of a running service (INBOX_RETENTION_DAYS): the copy, stamped at the
            // redrive, is not passed over by it.
            let stage = try world.stage(handler, crashPoints: hooks) { $0.inboxHorizon = .seconds(9 * 86_400) }
            try await world.publish([event, other])

            var reader = DeadLetterReader(brokers: world.kafka.bootstrapServers, topic: world.deadLetterTopic)
            reader.history.configuration.additionalProperties["fetch.wait.max.ms"] = "10"
            let redrive = DeadLetterRedrive(inboxWindow: .seconds(9 * 86_400))
            let producer = try KafkaProducer(configuration: world.kafka.producerConfiguration(clientID: "redrive"), logger: world.kafka.logger)
            try await withRunningServices([stage.producer, stage.consumer, stage.pipeline, producer]) {
                let settled = await eventually(timeout: .seconds(60)) { outcomes.all.count == 2 }
                #expect(settled && outcomes.all.sorted { $0.rawValue < $1.rawValue } == [.applied, .deadLettered], "\(outcomes.all)")
                #expect(try await world.effects(of: event.id) == 0)

                cause.fix()
                let letters = try await reader.read(DeadLetterFilter(reasonContains: "organisation file"), logger: world.kafka.logger).letters
                #expect(letters.count == 1 && letters.first?.record.sourceTopic == world.input.name)
                let before = Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
                let sent = await redrive.redrive(letters, producer: producer, dryRun: false) { _, _ in }
                guard case .sent(let partition, let offset) = sent.first, let original = letters.first?.record else { Issue.record("not redriven: \(sent)"); return }
                let applied = await eventually(timeout: .seconds(60)) { outcomes.all.count == 3 }
                #expect(applied && outcomes.all.last == .applied, "\(outcomes.all)")

                // The copy is stamped at the redrive, after the original: what keeps the inbox horizon
                // from passing over the copy of an original stamped longer ago than the horizon. It
                // lands on the partition the original was read from.
                #expect(Int(partition) == original.partition)
                var input = HistoryReader(brokers: world.kafka.bootstrapServers, topics: [world.input.name])
                input.configuration.additionalProperties["fetch.wait.max.ms"] = "10"
                var stamps: [Int64: Int64] = [:]
                _ = try await input.read(logger: world.kafka.logger) { message in
                    if message.partition.rawValue == partition { stamps[message.offset.rawValue] = message.timestampMilliseconds ?? 0 }
                }
                let originalStamp = try #require(stamps[original.offset]), copyStamp = try #require(stamps[offset])
                #expect(copyStamp >= before && copyStamp > originalStamp, "original \(originalStamp), copy \(copyStamp), redrive began \(before)")

                // Redriven again by mistake: the stage's inbox knows the id.
                _ = await redrive.redrive(letters, producer: producer, dryRun: false) { _, _ in }
                let skipped = await eventually(timeout: .seconds(60)) { outcomes.all.count == 4 }
                #expect(skipped && outcomes.all.last == .duplicate, "\(outcomes.all)")
            }
            #expect(try await world.effects(of: event.id) == 1)
            #expect(try await world.effects(of: other.id) == 1)
            #expect(try await world.kafka.messageCount(of: world.deadLetterTopic) == 1)
        }
    }
}
