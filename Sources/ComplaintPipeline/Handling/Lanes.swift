import Dispatch
import NIOConcurrencyHelpers
import RdKafka

/// The messages of one partition waiting for its lane. Unlike a stream, it hands over everything
/// queued at once (up to a maximum), so a lane under a backlog can apply several in one transaction.
///
/// A lane whose queue reaches its limit has its partition paused (the consumer goes on polling the
/// others, and stays in its group), and resumed once the lane has taken half of it: one partition whose
/// events keep failing holds back only itself, not every partition behind a full reader. A paused
/// lane's messages stop counting against the pipeline's in-flight bound (``LaneFlow``): those that
/// still arrive were fetched before the pause, a bounded overshoot.
///
/// When a rebalance takes its partition away, the lane is revoked (``revoke()``): what is queued is
/// dropped, the lane stops after the message in hand, and once the consumer let go of the partition
/// it is fenced (``fence()``): whatever it still completes stores no offset, so a partition given back
/// to this consumer (read again from the committed offset, in a new lane) never sees its offset moved
/// back by the old lane.
final class LaneQueue: Sendable {
    private struct State {
        var messages: [KafkaConsumerMessage] = []
        var finished = false
        var waiter: CheckedContinuation<Void, Never>?
        var paused = false
        /// Taken by the lane and not yet done.
        var inProcess = 0
        /// How many of the held messages (in process, then queued: they are done in order) do not
        /// count against the flow: all of them from a pause on, until they are done.
        var uncounted = 0
        /// Its partition was taken away: nothing more is queued or taken, and it neither pauses nor
        /// resumes the partition (which may be this consumer's again, in another lane).
        var revoked = false
        /// Offsets are no longer stored (see ``fence()``).
        var fenced = false
        /// Signalled when nothing is in process any more (``waitUntilIdle(until:)``).
        var idle: DispatchSemaphore?
    }

    private let state = NIOLockedValueBox(State())
    private let limit: Int
    private let flow: LaneFlow
    private let pause: @Sendable (Bool) -> Void

    /// - Parameters:
    ///   - limit: Queued messages at which the partition is paused (resumed at half of it).
    ///   - flow: The pipeline's in-flight bound, which the reader admits counted messages through.
    ///   - pause: Pauses (`true`) or resumes (`false`) the lane's partition; called under the lane's
    ///     lock, so a pause and a resume are never applied out of order (it must not block).
    init(limit: Int = .max, flow: LaneFlow, pause: @escaping @Sendable (Bool) -> Void = { _ in }) {
        self.limit = max(1, limit)
        self.flow = flow
        self.pause = pause
    }

    /// Whether the partition is paused: its messages still arriving were fetched before the pause, and
    /// are appended without waiting for room in the flow.
    var isPaused: Bool { state.withLockedValue { $0.paused } }

    /// The messages this lane holds (queued or in process) that count against the flow.
    var countedMessages: Int {
        state.withLockedValue { $0.paused ? 0 : $0.messages.count + $0.inProcess - $0.uncounted }
    }

    /// Pauses the partition below its limit, to give the reader room: the flow is full and nothing
    /// left it for a while (see ``LaneFlow/admit(waitingAtMost:)``). Resumed like any pause, once the
    /// lane takes its queue down to half its limit.
    func pauseForRoom() {
        state.withLockedValue { state in
            guard !state.paused, !state.revoked else { return }
            state.paused = true
            let held = state.messages.count + state.inProcess
            flow.release(held - state.uncounted)
            state.uncounted = held
            pause(true)
        }
    }

    /// Queues `message`; `counted` if the reader admitted it through the flow.
    func append(_ message: KafkaConsumerMessage, counted: Bool) {
        let waiter = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            if state.revoked {
                // Read before the revocation: its partition's new owner reads it again.
                if counted { flow.release(1) }
                return nil
            }
            if !counted {
                // Resumed meanwhile: it counts like any other (one over the bound at most).
                if state.paused { state.uncounted += 1 } else { flow.admitAtOnce() }
            }
            state.messages.append(message)
            if state.messages.count >= limit {
                if !state.paused {
                    state.paused = true
                    let held = state.messages.count + state.inProcess
                    flow.release(held - state.uncounted)
                    state.uncounted = held
                }
                // Also when paused already: a rebalance that gave the partition back un-paused it.
                pause(true)
            }
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// The lane is done with the `count` messages it took first (applied or skipped).
    func done(_ count: Int) {
        let idle = state.withLockedValue { state -> DispatchSemaphore? in
            state.inProcess -= count
            let counted = max(0, count - state.uncounted)
            state.uncounted = max(0, state.uncounted - count)
            flow.release(counted)
            guard state.inProcess == 0 else { return nil }
            defer { state.idle = nil }
            return state.idle
        }
        idle?.signal()
    }

    /// Whether the lane's partition was taken away: the lane stops after the message in hand.
    var isRevoked: Bool { state.withLockedValue { $0.revoked } }

    /// The partition was taken away: drops the queued messages (their counts leave the flow), ends the
    /// lane once what it took is done, and stops it pausing or resuming the partition.
    /// - Returns: How many queued messages were dropped.
    @discardableResult
    func revoke() -> Int {
        let (dropped, waiter) = state.withLockedValue { state -> (Int, CheckedContinuation<Void, Never>?) in
            guard !state.revoked else { return (0, nil) }
            state.revoked = true
            state.finished = true
            // `uncounted` covers the held messages in order, those in process first.
            let uncountedQueued = max(0, state.uncounted - state.inProcess)
            flow.release(state.messages.count - uncountedQueued)
            state.uncounted -= uncountedQueued
            let dropped = state.messages.count
            state.messages = []
            defer { state.waiter = nil }
            return (dropped, state.waiter)
        }
        waiter?.resume()
        return dropped
    }

    /// Blocks the calling thread (the consumer's poll, in its rebalance callback) until the messages the
    /// lane took are done and their offsets stored, or until `deadline`.
    /// - Returns: `false` when `deadline` came first.
    func waitUntilIdle(until deadline: DispatchTime) -> Bool {
        let semaphore = state.withLockedValue { state -> DispatchSemaphore? in
            guard state.inProcess > 0 else { return nil }
            if state.idle == nil { state.idle = DispatchSemaphore(value: 0) }
            return state.idle
        }
        guard let semaphore else { return true }
        return semaphore.wait(timeout: deadline) == .success
    }

    /// The consumer let go of the partition: offsets the lane would still store (a message that outlasted
    /// the wait) are not stored, since they could move a later owner's offset back.
    func fence() {
        state.withLockedValue { $0.fenced = true }
    }

    /// Runs `store` (storing offsets of this lane's messages) unless the lane is fenced, under the lane's
    /// lock so that a fence never comes between the check and the store.
    func storeOffsets(_ store: () throws -> Void) rethrows {
        try state.withLockedValue { state in
            guard !state.fenced else { return }
            try store()
        }
    }

    /// No more messages will come; the lane ends once it has taken what is queued.
    func finish() {
        let waiter = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// The queued messages in order, at most `maximum`, waiting until there is one; empty once the
    /// queue is finished and taken, or the task is cancelled.
    func next(maximum: Int) async -> [KafkaConsumerMessage] {
        while !Task.isCancelled {
            let taken = state.withLockedValue { state -> [KafkaConsumerMessage]? in
                defer {
                    // Also with nothing queued: a lane paused for room while its batch was in retries
                    // and its queue empty asks for more once that batch is done, and nothing else would
                    // resume its partition (events produced to it later would never be fetched).
                    if state.paused && !state.revoked && state.messages.count <= limit / 2 {
                        state.paused = false
                        pause(false)
                    }
                }
                guard !state.messages.isEmpty else { return state.finished ? [] : nil }
                let count = min(maximum, state.messages.count)
                let taken = Array(state.messages.prefix(count))
                state.messages.removeFirst(count)
                state.inProcess += count
                return taken
            }
            if let taken { return taken }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let ready = state.withLockedValue { state -> Bool in
                        if !state.messages.isEmpty || state.finished || Task.isCancelled { return true }
                        state.waiter = continuation
                        return false
                    }
                    if ready { continuation.resume() }
                }
            } onCancel: {
                let waiter = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
                    defer { state.waiter = nil }
                    return state.waiter
                }
                waiter?.resume()
            }
        }
        return []
    }
}

/// How many messages the pipeline has read but not yet applied (bounded), and whether its lanes still
/// take messages: after graceful shutdown, an abandoned event or a failure they skip what is queued.
final class LaneFlow: Sendable {
    private struct State {
        var inFlight = 0
        var taking = true
        var failed = false
        var waiters: [(id: UInt64, continuation: CheckedContinuation<Admission, Never>)] = []
        var nextWaiterID: UInt64 = 0
    }

    /// How a wait for room ended.
    enum Admission: Sendable, Equatable {
        /// The message counts; go on.
        case admitted
        /// Lanes stopped taking messages: the reader stops.
        case stopped
        /// No room came within the wait: some lane holds the flow without moving.
        case timedOut
    }

    private let limit: Int
    private let state = NIOLockedValueBox(State())

    init(limit: Int) {
        self.limit = limit
    }

    var isTaking: Bool { state.withLockedValue { $0.taking } }
    var hasFailed: Bool { state.withLockedValue { $0.failed } }

    /// Counts a message without waiting for room: one that reached a lane just after the lane resumed
    /// (at most one over the bound; waiting would stop the reader polling every partition).
    func admitAtOnce() {
        state.withLockedValue { $0.inFlight += 1 }
    }

    /// Waits for room for one more message; `.stopped` once lanes stopped taking, `.timedOut` when no
    /// room came within `wait` (the reader must go back to polling before the consumer's
    /// `max.poll.interval.ms` runs out: it then pauses a lane to make room).
    func admit(waitingAtMost wait: Duration) async -> Admission {
        let (immediate, id) = state.withLockedValue { state -> (Admission?, UInt64) in
            guard state.taking else { return (.stopped, 0) }
            if state.inFlight < limit {
                state.inFlight += 1
                return (.admitted, 0)
            }
            state.nextWaiterID += 1
            return (nil, state.nextWaiterID)
        }
        if let immediate { return immediate }
        return await withTaskGroup(of: Void.self) { group in
            let admission = await withCheckedContinuation { (continuation: CheckedContinuation<Admission, Never>) in
                let answer: Admission? = state.withLockedValue { state in
                    guard state.taking else { return .stopped }
                    if state.inFlight < limit {
                        state.inFlight += 1
                        return .admitted
                    }
                    state.waiters.append((id, continuation))
                    return nil
                }
                if let answer {
                    continuation.resume(returning: answer)
                } else {
                    group.addTask {
                        try? await Task.sleep(for: wait)
                        self.giveUp(waiter: id)
                    }
                }
            }
            group.cancelAll()
            return admission
        }
    }

    /// Ends a wait for room that is still waiting with `.timedOut`.
    private func giveUp(waiter id: UInt64) {
        let continuation = state.withLockedValue { state -> CheckedContinuation<Admission, Never>? in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return state.waiters.remove(at: index).continuation
        }
        continuation?.resume(returning: .timedOut)
    }

    /// `count` messages are done (applied or skipped).
    func release(_ count: Int = 1) {
        let waiters: [CheckedContinuation<Admission, Never>] = state.withLockedValue { state in
            state.inFlight -= count
            var admitted: [CheckedContinuation<Admission, Never>] = []
            while state.taking, !state.waiters.isEmpty, state.inFlight < limit {
                state.inFlight += 1
                admitted.append(state.waiters.removeFirst().continuation)
            }
            return admitted
        }
        for waiter in waiters { waiter.resume(returning: .admitted) }
    }

    func stopTaking() {
        let waiters = state.withLockedValue { state -> [CheckedContinuation<Admission, Never>] in
            state.taking = false
            defer { state.waiters = [] }
            return state.waiters.map(\.continuation)
        }
        for waiter in waiters { waiter.resume(returning: .stopped) }
    }

    func fail() {
        state.withLockedValue { $0.failed = true }
        stopTaking()
    }
}

/// The open lanes by partition: the reader opens them, the consumer's rebalance callback (on the poll
/// thread) takes away those of revoked partitions, so that a partition given back gets a new lane.
final class LaneRegistry: Sendable {
    private let lanes = NIOLockedValueBox<[String: LaneQueue]>([:])

    static func key(topic: String, partition: Int32) -> String { "\(topic)#\(partition)" }

    func lane(forKey key: String) -> LaneQueue? {
        lanes.withLockedValue { $0[key] }
    }

    func open(_ lane: LaneQueue, forKey key: String) {
        lanes.withLockedValue { $0[key] = lane }
    }

    var all: [LaneQueue] { lanes.withLockedValue { Array($0.values) } }

    /// Removes and returns the lanes of `keys`.
    func remove(_ keys: [String]) -> [LaneQueue] {
        lanes.withLockedValue { lanes in keys.compactMap { lanes.removeValue(forKey: $0) } }
    }
}
