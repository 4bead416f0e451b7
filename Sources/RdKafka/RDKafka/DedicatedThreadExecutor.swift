import Dispatch

/// A `TaskExecutor` that runs jobs on its own serial dispatch queue.
///
/// librdkafka's blocking calls (`rd_kafka_consumer_poll`, `rd_kafka_queue_poll` with a timeout,
/// `rd_kafka_consumer_close`) must never occupy a thread of Swift's cooperative pool; the clients hop
/// onto one of these with `withTaskExecutorPreference` for exactly those calls.
final class DedicatedThreadExecutor: TaskExecutor, @unchecked Sendable {
    private let queue: DispatchQueue

    init(label: String) {
        self.queue = DispatchQueue(label: label)
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
