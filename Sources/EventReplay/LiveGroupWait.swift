import RdKafka

extension KafkaAdminClient {
    /// Waits until consumer group `group` has committed up to `stop` (a replay's end marks) on every
    /// partition of their topics, or until `timeout`, asking twice a second: a replay compares with what
    /// the live stage produced, which it has produced only for what its group has committed. An error
    /// asking (a coordinator moving in a broker roll, a broker down a moment) is asked again until
    /// `timeout`, as the replay before it may have taken minutes of work.
    /// - Returns: The group's progress when it got there, or its last progress when `timeout` ran out
    ///   (``RdKafka/KafkaGroupProgress/reached(_:)`` of `stop` tells the two apart).
    /// - Throws: The last error when no question was answered before `timeout`.
    public func waitForGroup(
        _ group: String, reaching stop: [String: [Int32: Int64]], timeout: Duration
    ) async throws -> KafkaGroupProgress {
        let topics = Array(stop.keys).sorted()
        return try await GroupWait.wait(reaching: stop, timeout: timeout, interval: .milliseconds(500)) {
            try await self.progress(of: group, on: topics)
        }
    }
}

/// ``RdKafka/KafkaAdminClient/waitForGroup(_:reaching:timeout:)``'s loop with the question passed in, so
/// that a test can make it fail.
enum GroupWait {
    /// Asks `ask` every `interval` until its answer reached `stop` or `timeout` ran out; an error is
    /// asked again, and thrown only when no answer came before `timeout`.
    static func wait(
        reaching stop: [String: [Int32: Int64]], timeout: Duration, interval: Duration,
        ask: () async throws -> KafkaGroupProgress
    ) async throws -> KafkaGroupProgress {
        let deadline = ContinuousClock.now + timeout
        var last: KafkaGroupProgress?
        while true {
            do {
                let progress = try await ask()
                if progress.reached(stop) { return progress }
                last = progress
            } catch {
                try Task.checkCancellation()
                // An answer before this error is still the last known progress.
                if last == nil, ContinuousClock.now >= deadline { throw error }
            }
            if ContinuousClock.now >= deadline, let last { return last }
            try await Task.sleep(for: interval)
        }
    }
}
