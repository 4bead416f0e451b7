import ArgumentParser
import EventTail
import Foundation
import Logging
import RdKafka
import UnixSignals

/// `redress tail`: follows Redress's topics live, one readable line per event (or the events
/// themselves with `--json`), on the embedded broker of `redress up` or any Kafka.
struct TailCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail",
        abstract: "Follow topics live: one line per event (time, hotel, complaint, type, key fields).",
        discussion: """
            TOPIC is a full topic name or a short one: submitted, received, classified, assigned, updated, sla, \
            notifications (or delivered), alerts, deadletter; none means all of them. Redress's topics are read under \
            --prefix (or --topic-prefix; default: $KAFKA_TOPIC_PREFIX), as the services read and write them: with staging., `sla` and \
            complaints.sla.v1 both mean staging.complaints.sla.v1 (--prefix '' reads the unprefixed ones); other full \
            names are taken as they are. Brokers come from --brokers, \
            then KAFKA_BROKERS, then the up.env that `redress up` wrote. Starts at the end of each partition \
            unless --from-beginning; never commits (a fresh consumer group each run). Ctrl-C stops.
            kcat works as well: kcat -C -b "$KAFKA_BROKERS" -t complaints.sla.v1 -o end -u
            """)

    @Argument(help: "Topics to follow (default: all of Redress's).")
    var topics: [String] = []
    @OptionGroup var kafka: KafkaOptions
    @OptionGroup var prefix: PrefixedTopicsOption<PrefixHelp>
    @Option(name: .customLong("hotel"), help: "Only this hotel (repeatable).")
    var hotels: [String] = []
    @Option(name: .customLong("severity"), help: "Only complaints of this severity: minor, moderate, serious (repeatable).")
    var severities: [String] = []
    @Option(name: .customLong("type"), help: "Only this event type: received, classified, assigned, updated, sla, notification, alert, dead-letter, or a full type (repeatable).")
    var types: [String] = []
    @Option(help: "Only this complaint (its id or first characters).")
    var complaint: String?
    @Flag(help: "Read each topic from its beginning, then follow.")
    var fromBeginning = false
    @Flag(help: "Print each event as published, one JSON object per line (for jq).")
    var json = false
    @Flag(inversion: .prefixedNo, help: "Colour (default: when standard output is a terminal and NO_COLOR is unset).")
    var colour: Bool?
    @Option(help: "Stop after this many lines.")
    var count: Int?

    func validate() throws {
        for severity in severities where !["minor", "moderate", "serious"].contains(severity) {
            throw ValidationError("--severity '\(severity)': use minor, moderate or serious")
        }
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
        do { try TailFilter.checkTypes(types) } catch { throw ValidationError("--type: \(error.description)") }
    }

    func run() async throws {
        let brokerList = try kafka.setting()
        let names: [String]
        let prefix = self.prefix.topicPrefix
        do { names = try TailFollower.topicNames(topics, prefix: prefix) } catch let error as TailError { throw ValidationError(error.description) }
        var follower = TailFollower(brokers: KafkaBootstrap.servers(from: brokerList), topics: names, fromBeginning: fromBeginning)
        follower.topicPrefix = prefix
        follower.json = json
        follower.colour = colour ?? (isatty(STDOUT_FILENO) == 1 && ProcessInfoEnvironment.value("NO_COLOR") == nil && !json)
        follower.limit = count
        var logger = Logger(label: "redress.tail")
        logger.logLevel = .warning
        let filter = TailFilter(hotels: Set(hotels), severities: Set(severities), types: Set(types), complaint: complaint)
        FileHandle.standardError.write(Data("following \(names.joined(separator: ", ")) on \(brokerList)\(fromBeginning ? " from the beginning" : "")\n".utf8))
        _ = try await follower.run(filter: filter, signals: [.sigint, .sigterm], logger: logger) { line in
            print(line)
            fflushStandardOutput()
        }
    }
}

extension TailCommand {
    /// `--prefix` as tail uses it: before Redress's topic names only (other full names are taken as they are).
    enum PrefixHelp: TopicPrefixHelp {
        static let help = "Put before Redress's topic names, as services started with the same KAFKA_TOPIC_PREFIX read and write them (default: $KAFKA_TOPIC_PREFIX)."
    }
}
