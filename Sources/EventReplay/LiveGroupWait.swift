import RdKafka

extension KafkaAdminClient {
    /// Waits until consumer group `group` has committed up to `stop` (a replay's end marks) on every
    /// partition of their topics, or until `timeout`, asking twice a second: a replay compares with what
    /// the live stage produced, which it has produced only for what its group has committed. An error
    /// asking (a coordinator moving in a broker roll, a broker down a moment) is asked again until
    /// `timeout`, as the replay before it may have taken minutes of work. Each broker request of a
    /// question gets at most 10 s and never more than the time left, so with the brokers unreachable (the
    /// first request times out) the wait ends near `timeout`, not up to 10 s past it.
    /// - Returns: The group's progress when it got there, or its last progress when `timeout` ran out
    ///   (``RdKafka/KafkaGroupProgress/reached(_:)`` of `stop` tells the two apart).
    /// - Throws: The last error when no question was answered before `timeout`.
    public func waitForGroup(
        _ group: String, reaching stop: [String: [Int32: Int64]], timeout: Duration
    ) async throws -> KafkaGroupProgress {
        let topics = Array(stop.keys).sorted()
        return try await GroupWait.wait(reaching: stop, timeout: timeout, interval: .milliseconds(500), askTimeout: .seconds(10)) { left in
            try await self.progress(of: group, on: topics, timeout: left)
        }
    }
}

/// ``RdKafka/KafkaAdminClient/waitForGroup(_:reaching:timeout:)``'s loop with the question passed in, so
/// that a test can make it fail.
enum GroupWait {
    /// Asks `ask` every `interval` until its answer reached `stop` or `timeout` ran out; an error is
    /// asked again, and thrown only when no answer came before `timeout`. `ask` is given how long it may
    /// take: `askTimeout`, or the time left when that is less.
    static func wait(
        reaching stop: [String: [Int32: Int64]], timeout: Duration, interval: Duration, askTimeout: Duration,
        ask: (_ timeout: Duration) async throws -> KafkaGroupProgress
    ) async throws -> KafkaGroupProgress {
        let deadline = ContinuousClock.now + timeout
        var last: KafkaGroupProgress?
        var lastError: (any Error)?
        repeat {
            do {
                // With the brokers away the question's first request times out: at the deadline, not 10 s past it.
                let progress = try await ask(min(askTimeout, max(deadline - ContinuousClock.now, .zero)))
                if progress.reached(stop) { return progress }
                last = progress
            } catch {
                try Task.checkCancellation()
                lastError = error
            }
            let left = deadline - ContinuousClock.now
            if left <= .zero { break }
            try await Task.sleep(for: min(interval, left))
        } while ContinuousClock.now < deadline
        // An answer before the errors is still the last known progress.
        if let last { return last }
        throw lastError ?? CancellationError()
    }
}
