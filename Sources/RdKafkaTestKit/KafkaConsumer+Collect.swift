import RdKafka

extension KafkaConsumer {
    /// Reads `count` messages (optionally storing each offset as a processed message would), or throws
    /// ``TestTimeoutError`` after `timeout`.
    public func collect(_ count: Int, storingOffsets: Bool = true, timeout: Duration = .seconds(30)) async throws -> [KafkaConsumerMessage] {
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

    /// Waits until the group coordinator assigned this consumer at least one partition.
    public func waitForAssignment(timeout: Duration = .seconds(30)) async throws {
        // It would otherwise join its group only at its first read.
        try subscribe()
        try await withTimeout(timeout) {
            while self.assignment.isEmpty {
                try await Task.sleep(for: .milliseconds(50))
            }
        }
    }
}
