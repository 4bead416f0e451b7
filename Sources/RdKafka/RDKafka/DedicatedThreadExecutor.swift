import Dispatch

/// A `TaskExecutor` that runs jobs on its own serial dispatch queue.
///
/// librdkafka's blocking calls (`rd_kafka_consumer_poll`, `rd_kafka_queue_poll` with a timeout,
/// `rd_kafka_consumer_close`) must never occupy a thread of Swift's cooperative pool; the clients hop
/// onto one of these with `withTaskExecutorPreference` for exactly those calls.
final class DedicatedThreadExecutor: TaskExecutor, @unchecked Sendable {
    private let queue: DispatchQueue
    /// Marks the queue, so that code can tell whether it runs on it (see ``isCurrent``).
    nonisolated(unsafe) private static let marker = DispatchSpecificKey<ObjectIdentifier>()

    init(label: String) {
        self.queue = DispatchQueue(label: label)
        queue.setSpecific(key: Self.marker, value: ObjectIdentifier(self))
    }

    /// Whether the caller runs on this executor's queue (a librdkafka callback served by one of its polls).
    var isCurrent: Bool {
        DispatchQueue.getSpecific(key: Self.marker) == ObjectIdentifier(self)
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
