@testable import ComplaintPipeline
import ComplaintTesting
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
