import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import Logging
import PostgresNIO
import RdKafka
import RdKafkaTestKit
import Synchronization
import Testing

@Suite("EventPipelineService", .timeLimit(.minutes(3)))
struct EventPipelineServiceTests {
    @Test("a redelivered event changes nothing: applied once, announced once")
    func duplicateDelivery() async throws {
        try await PipelineWorld.with { world in
            let first = try EventFixtures.received()
            let second = try EventFixtures.received()
            try await world.publish([first, first, second, first])
            let outcomes = LockedOutcomes()
            var hooks = EventPipelineService.CrashPoints()
            hooks.settled = { _, outcome in outcomes.append(outcome) }
            let stage = try world.stage(world.handler, crashPoints: hooks)
            try await withRunningServices([stage.producer, stage.consumer, stage.pipeline]) {
                // All four read: two applied, the two copies of the first skipped as duplicates.
                let settled = await eventually(timeout: .seconds(60)) { outcomes.all.count == 4 }
                #expect(settled, "\(outcomes.all)")
            }
            #expect(outcomes.all.filter { $0 == .applied }.count == 2, "\(outcomes.all)")
            #expect(outcomes.all.filter { $0 == .duplicate }.count == 2, "\(outcomes.all)")
            #expect(try await world.effects(of: first.id) == 1)
            #expect(try await world.effects(of: second.id) == 1)
            #expect(try await world.outboxCount == 2)
        }
    }

    @Test("a backlog on two partitions is applied side by side and each partition in order, across small batches")
    func partitionsSideBySide() async throws {
        try await PipelineWorld.with { world in
            // All of partition 0's events, then all of partition 1's. (How much lanes overlap under
            // load is measured by `make bench-assignment`, not here.)
            let events = try (0..<60).map { _ in try EventFixtures.received() }
            let producer = try KafkaProducer(configuration: world.kafka.producerConfiguration(), logger: world.kafka.logger)
            try await withRunningServices([producer]) {
                for (index, event) in events.enumerated() {
                    _ = try await producer.sendAndAwait(KafkaProducerMessage(
                        topic: world.input.name, key: ByteBuffer(string: event.data.complaintID.uuidString.lowercased()),
                        value: ByteBuffer(bytes: try world.input.encode(event)), partition: KafkaPartition(rawValue: index < 30 ? 0 : 1)))
                }
            }
            let running = Mutex((now: 0, most: 0, offsets: [Int32: [Int64]](), arrived: Set<Int32>()))
            var handler = world.handler
            handler.beforeApplying = { _, context in
                let first = running.withLock {
                    $0.offsets[context.origin.partition, default: []].append(context.origin.offset)
                    $0.now += 1
                    $0.most = max($0.most, $0.now)
                    return $0.arrived.insert(context.origin.partition).inserted
                }
                if first {
                    // Each partition's first event waits for the other's: side by side, both arrive;
                    // one lane after the other, this wait runs out and `most` stays 1. Generous: the
                    // second lane's first event may come seconds later on a loaded machine.
                    _ = await eventually { running.withLock { $0.arrived.count == 2 } }
                }
                running.withLock { $0.now -= 1 }
            }
            // Batches of 4: lanes outlive them.
            let stage = try world.stage(handler) { $0.maximumBatchSize = 4 }
            try await withRunningServices([stage.producer, stage.consumer, stage.pipeline]) {
                let processed = try await eventually(timeout: .seconds(90)) { try await world.processedCount == 60 }
                #expect(processed)
            }
            #expect(running.withLock { $0.most } == 2)
            // In order within each partition, every offset once.
            let offsets = running.withLock { $0.offsets }
            #expect(offsets[0] == Array(0..<30) && offsets[1] == Array(0..<30), "\(offsets)")
            #expect(try await world.count("SELECT count(*)::int FROM \(world.tables.schema).effects") == 60)
        }
    }

    @Test("a partition whose events keep failing is paused: the others go on and the reader keeps polling")
    func stuckPartitionHoldsBackOnlyItself() async throws {
        // Room for 8 messages in all, a lane paused at 2 queued: unpaused, partition 0's twenty would
        // fill the reader's room and it would stop polling, partition 1's events unread.
        try await othersGoOnBesideAStuckPartition { $0.maximumInFlight = 8 }
    }

    /// Lanes each stuck below their pause limit could fill the reader's room between them: it then
    /// waited for room that never came, stopped polling, and every other partition waited with it.
    @Test("lanes stuck below their pause limit that fill the read-ahead are paused after a while: the others go on")
    func stuckBelowPauseLimit() async throws {
        // Room for 8 messages, a lane paused only at 100 queued: partition 0 alone fills the room.
        try await othersGoOnBesideAStuckPartition {
            $0.maximumInFlight = 8
            $0.maximumQueuedPerPartition = 100
            $0.readAheadWait = .milliseconds(200)
        }
    }

    /// Partition 0's twenty events fail until the test heals them; once they have failed a few times,
    /// five events on partition 1 must still be applied. Healed, partition 0's events are applied, and
    /// so is one produced to it afterwards: its partition was resumed (`LaneQueueTests` pins the case of
    /// a lane paused with nothing queued).
    private func othersGoOnBesideAStuckPartition(_ configure: (inout PipelineConfiguration) -> Void) async throws {
        try await PipelineWorld.with { world in
            let stuck = try (0..<20).map { _ in try EventFixtures.received() }
            let others = try (0..<5).map { _ in try EventFixtures.received() }
            try await world.publish(stuck, partition: 0)
            let failures = Mutex(0)
            let healed = Mutex(false)
            var handler = world.handler
            handler.beforeApplying = { _, context in
                guard context.origin.partition == 0, !healed.withLock({ $0 }) else { return }
                failures.withLock { $0 += 1 }
                // A serialization failure: transient, retried for as long as it lasts.
                try await context.connection.query(
                    PostgresQuery(unsafeSQL: "DO $$ BEGIN RAISE EXCEPTION 'simulated' USING ERRCODE = '40001'; END $$"), logger: context.logger)
            }
            let stage = try world.stage(handler, configure: configure)
            try await withRunningServices([stage.producer, stage.consumer, stage.pipeline]) {
                #expect(await eventually { failures.withLock { $0 >= 3 } })
                try await world.publish(others, partition: 1)
                let applied = try await eventually {
                    for event in others where try await world.effects(of: event.id) != 1 { return false }
                    return true
                }
                #expect(applied)
                #expect(try await world.effects(of: stuck[0].id) == 0)

                healed.withLock { $0 = true }
                let caughtUp = try await eventually {
                    for event in stuck where try await world.effects(of: event.id) != 1 { return false }
                    return true
                }
                #expect(caughtUp, "partition 0's events applied once healed")
                let later = try EventFixtures.received()
                try await world.publish([later], partition: 0)
                #expect(try await eventually { try await world.effects(of: later.id) == 1 }, "partition 0 resumed: a later event is read")
            }
        }
    }

    @Test("dies after the commit, before storing the offset: redelivered, not applied twice")
    func crashAfterCommit() async throws {
        try await PipelineWorld.with { world in
            let event = try EventFixtures.received()
            try await world.publish([event])
            var crashPoints = EventPipelineService.CrashPoints()
            crashPoints.afterCommit = { _ in throw SimulatedCrash() }
            let crashing = try world.stage(world.handler, crashPoints: crashPoints)
            let failure = await runUntilFailure([crashing.producer, crashing.consumer, crashing.pipeline], logger: world.kafka.logger)
            #expect(failure is SimulatedCrash)
            let effectsAfterCrash = try await world.effects(of: event.id)
            #expect(effectsAfterCrash == 1, "the effect committed before the crash")

            let redelivered = Attempts()
            let outcomes = LockedOutcomes()
            var observing = world.handler
            observing.beforeApplying = { _, _ in _ = redelivered.next() }
            var hooks = EventPipelineService.CrashPoints()
            hooks.settled = { _, outcome in outcomes.append(outcome) }
            let observed = try world.stage(observing, crashPoints: hooks)
            try await withRunningServices([observed.producer, observed.consumer, observed.pipeline]) {
                // The redelivered event reaches the inbox check and is skipped there.
                let seen = await eventually(timeout: .seconds(60)) { outcomes.all.contains(.duplicate) }
                #expect(seen, "the redelivery was seen")
            }
            #expect(outcomes.all == [.duplicate], "seen once, as a duplicate")
            #expect(redelivered.count == 0, "the handler never ran again: the inbox caught the redelivery")
            #expect(try await world.effects(of: event.id) == 1)
            #expect(try await world.outboxCount == 1)
        }
    }

    @Test("dies before the commit: nothing was applied, so the redelivery applies it once")
    func crashBeforeCommit() async throws {
        try await PipelineWorld.with { world in
            let event = try EventFixtures.received()
            try await world.publish([event])
            var crashPoints = EventPipelineService.CrashPoints()
            crashPoints.beforeCommit = { _ in throw SimulatedCrash() }
            let crashing = try world.stage(world.handler, crashPoints: crashPoints)
            let failure = await runUntilFailure([crashing.producer, crashing.consumer, crashing.pipeline], logger: world.kafka.logger)
            #expect(failure is SimulatedCrash)
            let effectsAfterCrash = try await world.effects(of: event.id)
            #expect(effectsAfterCrash == 0, "rolled back with the crash")
            #expect(try await world.outboxCount == 0)

            let restarted = try world.stage(world.handler)
            try await withRunningServices([restarted.producer, restarted.consumer, restarted.pipeline]) {
                let processed = try await eventually { try await world.processedCount == 1 }
                #expect(processed)
            }
            #expect(try await world.effects(of: event.id) == 1)
            #expect(try await world.outboxCount == 1)
        }
    }

    @Test("a poison message goes to the dead-letter topic with its reason, and the stage carries on")
    func poisonMessage() async throws {
        try await PipelineWorld.with { world in
            let good = try EventFixtures.received()
            var tooLongRoom = try world.input.encode(try EventFixtures.received())
            // Make the room number 17 characters: a schema violation the decoder names precisely.
            let text = String(decoding: tooLongRoom, as: UTF8.self)
            let roomKey = #""roomNumber":""#
            let range = try #require(text.range(of: roomKey))
            let end = try #require(text[range.upperBound...].firstIndex(of: "\""))
            tooLongRoom = Array(text.replacingCharacters(in: range.upperBound..<end, with: "12345678901234567").utf8)
            try await world.publish([(key: "poison-1", value: Array("{not json".utf8)), (key: "poison-2", value: tooLongRoom)])
            try await world.publish([good])

            let stage = try world.stage(world.handler)
            // The poison messages and the good one may sit on different partitions: keep the stage
            // running until both dead letters were read, not just until the good one was applied.
            let deadLetters = try await withRunningServices([stage.producer, stage.consumer, stage.pipeline]) {
                let processed = try await eventually { try await world.processedCount == 1 }
                #expect(processed)
                return try await world.read(2, from: world.deadLetterTopic, timeout: .seconds(60))
            }
            #expect(try await world.effects(of: good.id) == 1)

            let byKey = Dictionary(uniqueKeysWithValues: deadLetters.map { ($0.keyString ?? "", $0) })
            let malformed = try #require(byKey["poison-1"])
            #expect(malformed.headers.first(named: DeadLetterHeaders.reason)?.isEmpty == false)
            #expect(malformed.headers.first(named: DeadLetterHeaders.sourceTopic) == world.input.name)
            #expect(malformed.headers.first(named: DeadLetterHeaders.service) == "pipeline-test")
            #expect(malformed.headers.first(named: DeadLetterHeaders.attempts) == "1")
            #expect(malformed.headers.first(named: DeadLetterHeaders.sourceOffset) != nil)
            #expect(malformed.headers.first(named: DeadLetterHeaders.sourcePartition) != nil)

            let invalid = try #require(byKey["poison-2"])
            #expect(invalid.headers.first(named: DeadLetterHeaders.reason) == "data.guest.roomNumber: longer than 16 characters")
            let record = try Topics.deadLetter.decode(Array(invalid.value.readableBytesView))
            let original = record.data.originalValue.map { [UInt8]($0) }
            #expect(original == tooLongRoom, "the original bytes travel with the reason")
        }
    }

    @Test("a poison message with a huge key is dead-lettered under the record's cut key, not retried for ever as too large")
    func poisonWithHugeKey() async throws {
        try await PipelineWorld.with { world in
            // 680 KB of key and 300 KB of value fit the broker's limit; a dead letter repeating the key
            // beside the base64 of the value would not.
            let key = String(repeating: "k", count: 680_000)
            try await world.publish([(key: key, value: Array(repeating: UInt8(ascii: "x"), count: 300_000))])
            let stage = try world.stage(world.handler)
            let deadLetters = try await withRunningServices([stage.producer, stage.consumer, stage.pipeline]) {
                try await world.read(1, from: world.deadLetterTopic, timeout: .seconds(60))
            }
            let letter = try #require(deadLetters.first)
            #expect(letter.key?.readableBytes == 4096)
            let record = try Topics.deadLetter.decode(Array(letter.value.readableBytesView))
            #expect(record.data.originalValue?.count == 300_000)
        }
    }

    @Test("a transient database error is retried past the unknown errors' five tries, never dead-lettered",
          arguments: ["40001", "40P01", "53100", "25006"])
    func transientDatabaseError(sqlState: String) async throws {
        try await PipelineWorld.with { world in
            let event = try EventFixtures.received()
            try await world.publish([event])
            let attempts = Attempts()
            var flaky = world.handler
            flaky.beforeApplying = { _, context in
                if attempts.next() <= 6 {
                    // The server reports a serialization failure (40001), a deadlock (40P01), a full disk
                    // (53100) or, during a failover, that it is a read-only standby (25006).
                    try await context.connection.query(
                        PostgresQuery(unsafeSQL: "DO $$ BEGIN RAISE EXCEPTION 'simulated' USING ERRCODE = '\(sqlState)'; END $$"),
                        logger: context.logger)
                }
            }
            let stage = try world.stage(flaky)
            try await withRunningServices([stage.producer, stage.consumer, stage.pipeline]) {
                let processed = try await eventually { try await world.processedCount == 1 }
                #expect(processed)
            }
            #expect(attempts.count == 7)
            #expect(try await world.count("SELECT max(attempt)::int FROM \(world.tables.schema).effects") == 7)
            #expect(try await world.effects(of: event.id) == 1)
            // Nothing reached the dead-letter topic.
            #expect(try await world.kafka.messageCount(of: world.deadLetterTopic) == 0)
        }
    }
}
