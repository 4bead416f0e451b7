import Foundation
import Logging
import NIOCore
import RdKafka
import ServiceLifecycle

/// Reads topics from the first offset still kept (or a range's start) to where they ended when the
/// read began (or the range's end): the event log as the system of record, for what-ifs (`redress sla
/// backtest`) and replays. A fresh consumer group that takes nothing from the services; it commits
/// only a range's start offsets, before it reads (the broker expires the group's offsets later).
public struct HistoryReader: Sendable {
    public var configuration: KafkaConsumerConfiguration
    /// How long to wait without a message before giving up on reaching the ends.
    public var idleTimeout: Duration = .seconds(30)
    /// Per topic and partition, the first offset to read (a time range's start); `nil`: the first kept.
    public var start: [String: [Int32: Int64]]?
    /// Per topic and partition, the first offset not to read (a time range's end); `nil`: the ends
    /// when the read begins.
    public var stop: [String: [Int32: Int64]]?

    public init(brokers: [String], topics: [String]) {
        configuration = KafkaConsumerConfiguration(
            bootstrapServers: brokers, groupID: "redress-history-\(UUID().uuidString.lowercased().prefix(12))", topics: topics,
            clientID: "redress-history")
        configuration.autoOffsetReset = .earliest
        configuration.isAutoCommitEnabled = false
        configuration.additionalProperties["fetch.wait.max.ms"] = "50"
    }

    /// Hands every message up to the ends (snapshot taken first) to `body`, in each partition's order;
    /// returns how many there were.
    public func read(logger: Logger, _ body: (KafkaConsumerMessage) throws -> Void) async throws -> Int {
        let admin = try KafkaAdminClient(bootstrapServers: configuration.bootstrapServers, logger: logger)
        let progress = try await admin.progress(of: configuration.groupID, on: configuration.topics)
        // The first offset not to read, per partition that has anything to read.
        var remaining: [String: [Int32: Int64]] = [:]
        for entry in progress.partitions {
            let first = max(entry.start, start?[entry.topic]?[entry.partition] ?? entry.start)
            let end = min(entry.end, stop?[entry.topic]?[entry.partition] ?? entry.end)
            if end > first { remaining[entry.topic, default: [:]][entry.partition] = end }
        }
        if remaining.isEmpty { return 0 }
        if let start {
            // The fresh group starts where the range does.
            try await admin.commit(start, for: configuration.groupID)
        }
        let consumer = try KafkaConsumer(configuration: configuration, logger: logger)
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [consumer], gracefulShutdownSignals: [], logger: logger))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            // A watchdog stops the consumer when nothing arrives for `idleTimeout`; the loop then
            // ends short of the ends and says so.
            let lastMessage = LastMessage()
            let idle = idleTimeout
            tasks.addTask {
                while !lastMessage.isFinished {
                    try? await Task.sleep(for: .milliseconds(250))
                    if lastMessage.silence > idle {
                        await group.triggerGracefulShutdown()
                        return
                    }
                }
            }
            var count = 0
            do {
                for try await message in consumer.messages {
                    let partition = message.partition.rawValue
                    guard let end = remaining[message.topic]?[partition] else { continue }
                    lastMessage.touch()
                    let first = start?[message.topic]?[partition] ?? 0
                    if message.offset.rawValue < end && message.offset.rawValue >= first {
                        try body(message)
                        count += 1
                    }
                    // At or past the snapshot's end (retention may have moved the start there): done.
                    if message.offset.rawValue + 1 >= end {
                        remaining[message.topic]?[partition] = nil
                        if remaining[message.topic]?.isEmpty == true { remaining[message.topic] = nil }
                    }
                    if remaining.isEmpty { break }
                }
                if !remaining.isEmpty {
                    throw HistoryReadError(
                        description: "no message for \(idle) with \(remaining.values.reduce(0) { $0 + $1.count }) partitions short of their end")
                }
            } catch {
                lastMessage.finish()
                await group.triggerGracefulShutdown()
                try? await tasks.waitForAll()
                throw error
            }
            lastMessage.finish()
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return count
        }
    }
}

/// When the reader last saw a message, and whether it is done (the watchdog's cue to stop).
final class LastMessage: @unchecked Sendable {
    private let lock = NSLock()
    private var at = ContinuousClock.now
    private var finished = false
    func touch() { lock.withLock { at = .now } }
    func finish() { lock.withLock { finished = true } }
    var isFinished: Bool { lock.withLock { finished } }
    var silence: Duration { lock.withLock { ContinuousClock.now - at } }
}

/// The history could not be read to its end.
public struct HistoryReadError: Error, CustomStringConvertible {
    public var description: String
}
