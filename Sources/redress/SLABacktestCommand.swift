import ArgumentParser
import ComplaintEvents
import ComplaintPipeline
import EventTail
import Foundation
import Logging
import NIOCore
import RdKafka
import SLAWatcher

/// `redress sla backtest`: replays the recorded complaints and staff actions from the topics against a
/// candidate SLA policy and reports, beside the policy in force, how many responses and resolutions
/// would have breached.
struct SLABacktestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backtest",
        abstract: "What-if: the recorded history judged against a candidate SLA policy beside the one in force.",
        discussion: """
            Reads complaints.classified.v1, complaints.assigned.v1 and complaints.updated.v1 from the beginning \
            to where they end now (a fresh consumer group that commits nothing), keeps the complaints registered \
            in [--from, --to), and prints per hotel, category and severity how many responses and resolutions \
            breached under the policy in force and would have under --policy. A clock still running counts as \
            breached once past its deadline, as of now.
              redress sla backtest --policy candidate.yaml --from 2026-11-01T00:00:00Z --to 2026-12-01T00:00:00Z
            """)

    @Option(help: "The candidate policy file.")
    var policy: String
    @Option(help: "The policy in force (default: $SLA_POLICY_FILE, then \(PolicyFile.defaultPath)).")
    var inForce: String?
    @Option(help: "Complaints registered at or after (RFC 3339).")
    var from: String
    @Option(help: "Complaints registered before (RFC 3339).")
    var to: String
    @OptionGroup var kafka: KafkaOptions
    @OptionGroup var prefix: TopicPrefixOption
    @Flag(help: "Print the report as JSON.")
    var json = false

    func run() async throws {
        let start = try DateTimeOption.parse(from, option: "--from")
        let end = try DateTimeOption.parse(to, option: "--to")
        guard end > start else { throw ValidationError("--to must come after --from") }
        let inForcePath = inForce ?? ProcessInfoEnvironment.value("SLA_POLICY_FILE") ?? ServiceFiles.locate(PolicyFile.defaultPath)
        let current: SLAPolicies
        let candidate: SLAPolicies
        do {
            current = try PolicyFile.load(contentsOf: inForcePath)
            candidate = try PolicyFile.load(contentsOf: policy)
        } catch {
            throw CommandFailure("\(error)")
        }
        let brokerList = try kafka.servers()

        var logger = Logger(label: "redress.sla.backtest")
        logger.logLevel = .warning
        let topicPrefix = prefix.topicPrefix
        let classified = topicPrefix + Topics.classified.name
        let assigned = topicPrefix + Topics.assigned.name
        let updated = topicPrefix + Topics.updated.name
        let reader = HistoryReader(brokers: brokerList, topics: [classified, assigned, updated])
        var history = RecordedHistory()
        var unreadable = 0
        let read = try await reader.read(logger: logger) { message in
            let bytes = Array(message.value.readableBytesView)
            do {
                switch message.topic {
                case classified: history.add(try Topics.classified.decode(bytes))
                case assigned: history.add(try Topics.assigned.decode(bytes))
                default: history.add(try Topics.updated.decode(bytes))
                }
            } catch {
                unreadable += 1  // the services dead-lettered it; it never moved a clock
            }
        }
        let inRange = history.complaints(registeredIn: start..<end)
        let report = SLABacktest(inForce: current, candidate: candidate, asOf: Date()).run(inRange)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print("read \(read) events (\(unreadable) unreadable); \(inRange.count) complaints registered in [\(from), \(to))")
            print("in force: \(inForcePath)   candidate: \(policy)")
            print(report.table)
        }
    }
}
