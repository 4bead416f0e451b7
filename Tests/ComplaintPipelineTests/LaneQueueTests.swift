@testable import ComplaintPipeline
import ComplaintTesting
import Dispatch
import NIOCore
import RdKafka
import Synchronization
import Testing

/// A lane's partition is paused and resumed by its queue; these pin the cases the reader cannot show
/// deterministically.
@Suite("Lane queue pausing")
struct LaneQueueTests {
    static func message(_ offset: Int64) -> KafkaConsumerMessage {
        KafkaConsumerMessage(
            topic: "t", partition: KafkaPartition(rawValue: 0), offset: KafkaOffset(rawValue: offset), key: nil,
            value: ByteBuffer(string: "{}"), headers: [], timestampMilliseconds: nil)
    }

    /// The reader paused, for room, a lane whose whole queue was in process (a batch in retries): once
    /// done, the lane asked for more, found nothing queued, and its partition stayed paused for good.
    @Test("a lane paused for room with nothing queued resumes its partition when it asks for more")
    func pausedWithNothingQueuedResumes() async throws {
        let calls = Mutex<[Bool]>([])
        let lane = LaneQueue(limit: 100, flow: LaneFlow(limit: 8)) { paused in calls.withLock { $0.append(paused) } }
        lane.append(Self.message(0), counted: false)
        lane.append(Self.message(1), counted: false)
        #expect(await lane.next(maximum: 32).count == 2)
        lane.pauseForRoom()
        #expect(calls.withLock { $0 } == [true])
        lane.done(2)
        let waiting = Task { await lane.next(maximum: 32) }
        let resumed = await eventually(timeout: .seconds(10)) { calls.withLock { $0 } == [true, false] }
        #expect(resumed, "pause calls: \(calls.withLock { $0 })")
        #expect(!lane.isPaused)
        lane.finish()
        #expect(await waiting.value.isEmpty)
    }

    @Test("a lane paused at its limit resumes once it has taken its queue down to half, not before")
    func resumesAtHalf() async throws {
        let calls = Mutex<[Bool]>([])
        let lane = LaneQueue(limit: 4, flow: LaneFlow(limit: 100)) { paused in calls.withLock { $0.append(paused) } }
        for offset in 0..<4 { lane.append(Self.message(Int64(offset)), counted: false) }
        #expect(calls.withLock { $0 } == [true])
        #expect(await lane.next(maximum: 1).count == 1)
        #expect(calls.withLock { $0 } == [true], "3 queued: above half of 4")
        #expect(await lane.next(maximum: 1).count == 1)
        #expect(calls.withLock { $0 } == [true, false], "2 queued: half")
    }
}

/// A rebalance that takes a lane's partition away (see `RebalanceTests` for the whole pipeline).
@Suite("Lane queue revocation")
struct LaneRevocationTests {
    @Test("a revoked lane drops what it queued, gives its room back to the flow, and ends after what it took")
    func revokeDropsQueue() async throws {
        let flow = LaneFlow(limit: 3)
        let lane = LaneQueue(limit: 100, flow: flow)
        for offset in 0..<3 {
            #expect(await flow.admit(waitingAtMost: .seconds(10)) == .admitted)
            lane.append(LaneQueueTests.message(Int64(offset)), counted: true)
        }
        #expect(await lane.next(maximum: 1).count == 1)
        #expect(lane.revoke() == 2)
        #expect(lane.isRevoked)
        // Two of the three places are free again; the message in process still holds the third.
        #expect(await flow.admit(waitingAtMost: .zero) == .admitted)
        #expect(await flow.admit(waitingAtMost: .zero) == .admitted)
        #expect(await flow.admit(waitingAtMost: .milliseconds(1)) == .timedOut)
        // A message read before the revocation is not queued.
        lane.append(LaneQueueTests.message(3), counted: false)
        lane.done(1)
        #expect(await lane.next(maximum: 32).isEmpty, "finished: the lane ends")
    }

    @Test("a revoked lane stores offsets until it is fenced, never after; the wait ends once it is idle")
    func fencedLaneStoresNothing() async throws {
        let calls = Mutex<[Bool]>([])
        let lane = LaneQueue(limit: 4, flow: LaneFlow(limit: 100)) { paused in calls.withLock { $0.append(paused) } }
        for offset in 0..<4 { lane.append(LaneQueueTests.message(Int64(offset)), counted: false) }
        #expect(calls.withLock { $0 } == [true])
        #expect(await lane.next(maximum: 1).count == 1)
        lane.revoke()
        #expect(calls.withLock { $0 } == [true], "a revoked lane leaves the partition alone (it may be this consumer's again)")
        let stored = Mutex(0)
        lane.storeOffsets { stored.withLock { $0 += 1 } }
        #expect(stored.withLock { $0 } == 1, "still owned until the consumer lets go")
        #expect(!lane.waitUntilIdle(until: .now()), "one message still in process")
        lane.done(1)
        #expect(lane.waitUntilIdle(until: .now()))
        lane.fence()
        lane.storeOffsets { stored.withLock { $0 += 1 } }
        #expect(stored.withLock { $0 } == 1, "fenced: a late store would move a later owner's offset back")
        #expect(await lane.next(maximum: 32).isEmpty)
        #expect(calls.withLock { $0 } == [true])
    }
}
