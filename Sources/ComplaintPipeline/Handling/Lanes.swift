import NIOConcurrencyHelpers
import RdKafka

/// The messages of one partition waiting for its lane. Unlike a stream, it hands over everything
/// queued at once (up to a maximum), so a lane under a backlog can apply several in one transaction.
final class LaneQueue: Sendable {
    private struct State {
        var messages: [KafkaConsumerMessage] = []
        var finished = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = NIOLockedValueBox(State())

    func append(_ message: KafkaConsumerMessage) {
        let waiter = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            state.messages.append(message)
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
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
                guard !state.messages.isEmpty else { return state.finished ? [] : nil }
                let count = min(maximum, state.messages.count)
                defer { state.messages.removeFirst(count) }
                return Array(state.messages.prefix(count))
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
        var waiters: [CheckedContinuation<Bool, Never>] = []
    }

    private let limit: Int
    private let state = NIOLockedValueBox(State())

    init(limit: Int) {
        self.limit = limit
    }

    var isTaking: Bool { state.withLockedValue { $0.taking } }
    var hasFailed: Bool { state.withLockedValue { $0.failed } }

    /// Waits for room for one more message; `false` once lanes stopped taking.
    func admit() async -> Bool {
        await withCheckedContinuation { continuation in
            let answer: Bool? = state.withLockedValue { state in
                guard state.taking else { return false }
                if state.inFlight < limit {
                    state.inFlight += 1
                    return true
                }
                state.waiters.append(continuation)
                return nil
            }
            if let answer { continuation.resume(returning: answer) }
        }
    }

    /// `count` messages are done (applied or skipped).
    func release(_ count: Int = 1) {
        let waiters: [CheckedContinuation<Bool, Never>] = state.withLockedValue { state in
            state.inFlight -= count
            var admitted: [CheckedContinuation<Bool, Never>] = []
            while state.taking, !state.waiters.isEmpty, state.inFlight < limit {
                state.inFlight += 1
                admitted.append(state.waiters.removeFirst())
            }
            return admitted
        }
        for waiter in waiters { waiter.resume(returning: true) }
    }

    func stopTaking() {
        let waiters = state.withLockedValue { state -> [CheckedContinuation<Bool, Never>] in
            state.taking = false
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: false) }
    }

    func fail() {
        state.withLockedValue { $0.failed = true }
        stopTaking()
    }
}
