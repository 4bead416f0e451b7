import RdKafka

extension KafkaConsumer {
    /// Reads `count` messages (optionally storing each offset as a processed message would), or throws
    /// ``TestTimeoutError`` after `timeout`. The default is generous: the wait includes joining a fresh
    /// group, which took the mock coordinator over 30 s late in a loaded CI run; a passing read returns
    /// as soon as it has the messages.
    public func collect(_ count: Int, storingOffsets: Bool = true, timeout: Duration = .seconds(90)) async throws -> [KafkaConsumerMessage] {
        guard count > 0 else { return [] }
        return try await withTimeout(timeout) {
            var received: [KafkaConsumerMessage] = []
            for try await batch in self.batches() {
                let needed = batch.prefix(count - received.count)
                received.append(contentsOf: needed)
                if storingOffsets { try self.storeOffsets(needed) }
                if received.count == count { break }
            }
            return received
        }
    }

    /// Waits until the group coordinator assigned this consumer at least one partition (as long as
    /// ``collect(_:storingOffsets:timeout:)`` for the same reason).
    public func waitForAssignment(timeout: Duration = .seconds(90)) async throws {
        // It would otherwise join its group only at its first read.
        try subscribe()
        try await withTimeout(timeout) {
            while self.assignment.isEmpty {
                try await Task.sleep(for: .milliseconds(50))
            }
        }
    }
}
