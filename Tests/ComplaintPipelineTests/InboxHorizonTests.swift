import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import NIOCore
import RdKafka
import RdKafkaTestKit
import Testing

/// Kafka keeps a record until its whole segment is past `retention.ms`; a group whose offsets expired
/// reads again from there, and the inbox may have purged the record's mark already. Such a record must
/// be passed over, not applied a second time.
@Suite("inbox horizon", .timeLimit(.minutes(2)))
struct InboxHorizonTests {
    static func message(at timestamp: Int64?) -> KafkaConsumerMessage {
        KafkaConsumerMessage(
            topic: "t", partition: KafkaPartition(rawValue: 0), offset: KafkaOffset(rawValue: 7), key: nil,
            value: ByteBuffer(), headers: [], timestampMilliseconds: timestamp)
    }

    @Test("a message older than the inbox remembers is too old; a younger one, or one without a timestamp, is applied")
    func horizon() {
        var configuration = PipelineConfiguration(serviceName: "test", schema: "horizon")
        configuration.inboxHorizon = .seconds(9 * 86_400)
        let now = Date(timeIntervalSince1970: 2_000_000_000)
        let nowMilliseconds: Int64 = 2_000_000_000_000
        let horizon: Int64 = 9 * 86_400_000
        #expect(configuration.passedOver(Self.message(at: nowMilliseconds - horizon - 1), now: now) == .tooOld)
        #expect(configuration.passedOver(Self.message(at: nowMilliseconds - horizon + 1), now: now) == nil)
        #expect(configuration.passedOver(Self.message(at: nil), now: now) == nil)
        // A replay's range still decides first.
        configuration.timestamps = nowMilliseconds..<(nowMilliseconds + 1)
        #expect(configuration.passedOver(Self.message(at: nowMilliseconds - horizon - 1), now: now) == .outsideRange)
        configuration.inboxHorizon = nil
        configuration.timestamps = nil
        #expect(configuration.passedOver(Self.message(at: 0), now: now) == nil)
    }

    @Test("an input whose handler is idempotent by content is not held to the horizon; the replay range still is")
    func horizonLeftOut() {
        var configuration = PipelineConfiguration(serviceName: "test", schema: "horizon")
        configuration.inboxHorizon = .seconds(9 * 86_400)
        let now = Date(timeIntervalSince1970: 2_000_000_000)
        let tenDaysAgo: Int64 = 2_000_000_000_000 - 10 * 86_400_000
        #expect(configuration.passedOver(Self.message(at: tenDaysAgo), now: now, inboxHorizonApplies: false) == nil)
        configuration.timestamps = (tenDaysAgo + 1)..<(tenDaysAgo + 2)
        #expect(configuration.passedOver(Self.message(at: tenDaysAgo), now: now, inboxHorizonApplies: false) == .outsideRange)
    }

    @Test("the pipeline applies an input's events past the horizon when the input opts in, and marks them in the inbox")
    func pipelineAppliesOptedIn() async throws {
        try await PipelineWorld.with { world in
            let old = try EventFixtures.received()
            try await world.publish([old])
            let outcomes = LockedOutcomes()
            var hooks = EventPipelineService.CrashPoints()
            hooks.settled = { _, outcome in outcomes.append(outcome) }
            #expect(!StageInput(world.input, world.handler).appliesEventsPastInboxHorizon, "off by default")
            let input = StageInput(world.input, world.handler).applyingEventsPastInboxHorizon()
            // Every message already published is older than a horizon of zero.
            let stage = try world.stage(input: input, crashPoints: hooks) { $0.inboxHorizon = .zero }
            try await withRunningServices([stage.producer, stage.consumer, stage.pipeline]) {
                #expect(await eventually(timeout: .seconds(60)) { outcomes.all.count == 1 }, "\(outcomes.all)")
            }
            #expect(outcomes.all == [.applied])
            #expect(try await world.effects(of: old.id) == 1)
            #expect(try await world.processedCount == 1)
        }
    }

    @Test("the pipeline passes over events older than its inbox horizon: nothing applied, no inbox mark, offset stored")
    func pipelinePassesOver() async throws {
        try await PipelineWorld.with { world in
            let old = try EventFixtures.received()
            try await world.publish([old])
            let outcomes = LockedOutcomes()
            var hooks = EventPipelineService.CrashPoints()
            hooks.settled = { _, outcome in outcomes.append(outcome) }
            // Every message already published is older than a horizon of zero.
            let stage = try world.stage(world.handler, crashPoints: hooks) { $0.inboxHorizon = .zero }
            try await withRunningServices([stage.producer, stage.consumer, stage.pipeline]) {
                #expect(await eventually(timeout: .seconds(60)) { outcomes.all.count == 1 }, "\(outcomes.all)")
            }
            #expect(outcomes.all == [.tooOld])
            #expect(try await world.effects(of: old.id) == 0)
            #expect(try await world.processedCount == 0)
            #expect(try await world.outboxCount == 0)

            // Its offset was stored and committed: the group does not read it again.
            let again = LockedOutcomes()
            var later = EventPipelineService.CrashPoints()
            later.settled = { _, outcome in again.append(outcome) }
            let fresh = try EventFixtures.received()
            let restarted = try world.stage(world.handler, crashPoints: later)
            try await withRunningServices([restarted.producer, restarted.consumer, restarted.pipeline]) {
                try await world.publish([fresh])
                #expect(try await eventually(timeout: .seconds(60)) { try await world.effects(of: fresh.id) == 1 })
            }
            #expect(again.all == [.applied], "\(again.all)")
        }
    }
}
