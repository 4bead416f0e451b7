import RdKafka

extension KafkaAdminClient {
    /// Waits until consumer group `group` has committed up to `stop` (a replay's end marks) on every
    /// partition of their topics, or until `timeout`, asking twice a second: a replay compares with what
    /// the live stage produced, which it has produced only for what its group has committed.
    /// - Returns: The group's progress when it got there, or its last progress when `timeout` ran out
    ///   (``RdKafka/KafkaGroupProgress/reached(_:)`` of `stop` tells the two apart).
    public func waitForGroup(
        _ group: String, reaching stop: [String: [Int32: Int64]], timeout: Duration
    ) async throws -> KafkaGroupProgress {
        let deadline = ContinuousClock.now + timeout
        while true {
            let progress = try await progress(of: group, on: Array(stop.keys).sorted())
            if progress.reached(stop) || ContinuousClock.now >= deadline { return progress }
            try await Task.sleep(for: .milliseconds(500))
        }
    }
}
