/// The messages of a ``KafkaConsumer`` as an `AsyncSequence`.
///
/// `next()` blocks only a dedicated thread, never the cooperative pool. It returns `nil` when the
/// consumer closes or the iterating task is cancelled, and throws a ``KafkaError`` on a fatal error.
public struct KafkaConsumerMessages: AsyncSequence, Sendable {
    public typealias Element = KafkaConsumerMessage

    let consumer: KafkaConsumer
    let maximumBatchSize: Int

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(batches: KafkaConsumerBatches(consumer: consumer, maximumCount: maximumBatchSize).makeAsyncIterator())
    }

    /// Hands out the buffered batch one message at a time.
    public struct AsyncIterator: AsyncIteratorProtocol {
        @usableFromInline var batches: KafkaConsumerBatches.AsyncIterator
        @usableFromInline var buffer: [KafkaConsumerMessage] = []
        @usableFromInline var index = 0

        init(batches: KafkaConsumerBatches.AsyncIterator) {
            self.batches = batches
        }

        /// Inlinable so that taking the next message of a batch already polled costs the caller no
        /// call into this module (most calls); only an empty buffer polls librdkafka again.
        @inlinable
        public mutating func next() async throws -> KafkaConsumerMessage? {
            if index < buffer.count {
                defer { index += 1 }
                return buffer[index]
            }
            return try await nextFromNewBatch()
        }

        @usableFromInline
        mutating func nextFromNewBatch() async throws -> KafkaConsumerMessage? {
            buffer = []
            guard let batch = try await batches.next() else { return nil }
            buffer = batch
            index = 1
            return batch[0]
        }
    }
}

/// The messages of a ``KafkaConsumer`` in the batches librdkafka hands over: cheaper per message
/// when a stage can apply several in one database transaction.
public struct KafkaConsumerBatches: AsyncSequence, Sendable {
    public typealias Element = [KafkaConsumerMessage]

    let consumer: KafkaConsumer
    let maximumCount: Int

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(consumer: consumer, maximumCount: maximumCount)
    }

    /// Polls the consumer for the next batch.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let consumer: KafkaConsumer
        let maximumCount: Int
        var topicNames = TopicNameCache()

        /// The next non-empty batch, or `nil` once the consumer is closed or the task cancelled.
        public mutating func next() async throws -> [KafkaConsumerMessage]? {
            while !Task.isCancelled && !consumer.isClosed {
                let batch = try await consumer.poll(maximumCount: maximumCount, topicNames: &topicNames)
                if !batch.isEmpty { return batch }
            }
            return nil
        }
    }
}
