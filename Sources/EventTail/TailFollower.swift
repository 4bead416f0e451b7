import ComplaintEvents
import Foundation
import Logging
import NIOCore
import RdKafka
import ServiceLifecycle
import UnixSignals

/// Follows topics like `kubectl logs -f`: a consumer of its own, never committing, in a fresh group
/// (so it takes nothing from the services and is not remembered), from the end of each partition or
/// from the beginning, printing one line per event that passes the filter.
public struct TailFollower: Sendable {
    public var configuration: KafkaConsumerConfiguration
    /// Print the event as it is on the topic (one JSON value per line, for `jq`: ``EventLine/jsonLine(topic:partition:offset:value:)``) instead of a summary.
    public var json = false
    public var colour = false
    /// Stop after this many lines (scripts, tests); nil follows until stopped.
    public var limit: Int?
    /// The `KAFKA_TOPIC_PREFIX` the topics were named with (``topicNames(_:prefix:)``): a line names the
    /// event as its unprefixed topic would.
    public var topicPrefix = ""

    public init(brokers: [String], topics: [String], fromBeginning: Bool) {
        configuration = KafkaConsumerConfiguration(
            bootstrapServers: brokers, groupID: "redress-tail-\(UUID().uuidString.lowercased().prefix(12))", topics: topics,
            clientID: "redress-tail")
        configuration.autoOffsetReset = fromBeginning ? .earliest : .latest
        configuration.isAutoCommitEnabled = false
        configuration.additionalProperties["fetch.wait.max.ms"] = "100"
    }

    /// Topic names from the command line: full names, or short ones (`sla`, `classified`,
    /// `notifications`, `deadletter`) for Redress's topics; none means every Redress topic.
    ///
    /// `prefix` is the environment's `KAFKA_TOPIC_PREFIX`: Redress's topics — short names, none, or a
    /// full name of one of them (`complaints.sla.v1`) — are read under it (`staging.complaints.sla.v1`),
    /// as the services read and write them; any other full name is taken as it is.
    public static func topicNames(_ arguments: [String], prefix: String = "") throws -> [String] {
        let redress = Topics.all.map(\.name)
        if arguments.isEmpty || arguments == ["all"] { return redress.map { prefix + $0 } }
        return try arguments.map { argument in
            if argument.contains(".") { return redress.contains(argument) ? prefix + argument : argument }
            let matches = redress.filter { $0.split(separator: ".").contains { $0 == argument } }
            guard matches.count == 1 else {
                throw TailError("no Redress topic called '\(argument)'; use a full name or one of "
                    + Topics.all.map { $0.name.split(separator: ".").dropLast().last.map(String.init) ?? $0.name }.joined(separator: ", "))
            }
            return prefix + matches[0]
        }
    }

    /// Runs until `limit` lines were printed, the consumer stops (a signal in `signals`), or the
    /// task is cancelled; returns how many lines were printed.
    public func run(
        filter initialFilter: TailFilter, signals: [UnixSignal] = [], logger: Logger, print: @escaping @Sendable (String) -> Void
    ) async throws -> Int {
        let consumer = try KafkaConsumer(configuration: configuration, logger: logger)
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [consumer], gracefulShutdownSignals: signals, logger: logger))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var filter = initialFilter
            var printed = 0
            do {
                for try await message in consumer.messages {
                    let value = Array(message.value.readableBytesView)
                    let topic = !topicPrefix.isEmpty && message.topic.hasPrefix(topicPrefix) ? String(message.topic.dropFirst(topicPrefix.count)) : message.topic
                    let line = EventLine(topic: topic, value: value)
                    guard filter.admits(line, eventType: Self.eventType(of: value)) else { continue }
                    print(json
                        ? EventLine.jsonLine(topic: message.topic, partition: message.partition.rawValue, offset: message.offset.rawValue, value: value)
                        : line.formatted(colour: colour))
                    printed += 1
                    if let limit, printed >= limit { break }
                }
            } catch {
                await group.triggerGracefulShutdown()
                try? await tasks.waitForAll()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return printed
        }
    }

    /// The CloudEvents type, for `--type` given in full.
    static func eventType(of value: [UInt8]) -> String? {
        ((try? JSONSerialization.jsonObject(with: Data(value))) as? [String: Any])?["type"] as? String
    }
}

/// A command-line mistake, said plainly.
public struct TailError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
