import ComplaintEvents
import ComplaintPipeline
import Logging
import RdKafka

/// Waits until every Redress service's consumer group has committed up to the end of the topics it
/// reads, so that a measured run of `redress loadgen --full-loop` does not start while the services
/// are still working off the previous run (a notifier or metrics backlog takes the cores the
/// measured complaints need).
///
/// A group reads a topic when it has committed an offset in some partition of it; for those topics,
/// what it has not committed yet is its backlog.
struct CatchUpWait {
    var brokers: [String]
    var logger: Logger

    /// Returns once the backlog of every group is zero, or after `timeout` (saying how much was left).
    func run(timeout: Duration = .seconds(300)) async throws {
        let admin = try KafkaAdminClient(bootstrapServers: brokers, logger: logger)
        let topics = Topics.all.map(\.name)
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var lastReport = clock.now
        while true {
            var backlog: [String: Int64] = [:]
            for service in RedressService.all {
                let progress = try await admin.progress(of: service.executable, on: topics)
                let read = Set(progress.partitions.filter { $0.committed != nil }.map(\.topic))
                let waiting = progress.partitions.filter { read.contains($0.topic) }
                    .reduce(Int64(0)) { $0 + max(0, $1.end - ($1.committed ?? $1.start)) }
                if waiting > 0 { backlog[service.name] = waiting }
            }
            if backlog.isEmpty { return }
            let left = backlog.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            if clock.now >= deadline {
                print("  services still behind after \(timeout): \(left); measuring anyway")
                return
            }
            if clock.now - lastReport >= .seconds(5) {
                print("  waiting for the services to catch up: \(left) messages to go")
                lastReport = clock.now
            }
            try await Task.sleep(for: .milliseconds(500))
        }
    }
}
