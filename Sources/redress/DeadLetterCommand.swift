import ArgumentParser
import ComplaintEvents
import ComplaintPipeline
import EventTail
import Foundation
import Logging
import RdKafka
import ServiceLifecycle

/// `redress deadletter`: lists, shows and redrives what the services dead-lettered to
/// `complaints.deadletter.v1`, so "fix the cause and replay it" is one command, not a kcat | jq |
/// base64 pipeline.
struct DeadLetterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deadletter",
        abstract: "List, show and redrive the dead letters on complaints.deadletter.v1.",
        discussion: """
            The dead-letter topic is read under --prefix (default: $KAFKA_TOPIC_PREFIX), as the services write it, from \
            the first message kept to its end when the command starts (a fresh consumer group each run, never \
            committed). A dead letter is named by its partition and offset on that topic: 2:17.
            """,
        subcommands: [List.self, Show.self, Redrive.self])

    /// Where to read: brokers, data directory, topic prefix.
    struct Connection: ParsableArguments {
        @OptionGroup var kafka: KafkaOptions
        @OptionGroup var prefix: TopicPrefixOption

        var topicPrefix: String { prefix.topicPrefix }
        var deadLetterTopic: String { topicPrefix + Topics.deadLetter.name }

        func brokerList() throws -> [String] { try kafka.servers() }

        /// The dead letters `filter` selects; unreadable messages on the topic are mentioned on stderr.
        func read(_ filter: DeadLetterFilter, logger: Logger) async throws -> [DeadLetter] {
            let result = try await DeadLetterReader(brokers: try brokerList(), topic: deadLetterTopic).read(filter, logger: logger)
            if !result.unreadable.isEmpty {
                FileHandle.standardError.write(Data(
                    "\(result.unreadable.count) messages on \(deadLetterTopic) are no dead letter (\(result.unreadable.prefix(5).map(\.description).joined(separator: ", ")))\n".utf8))
            }
            return result.letters
        }
    }

    /// Which dead letters: by time, service, source topic, reason.
    struct Selection: ParsableArguments {
        @Option(help: "Only dead letters that failed at or after this time, RFC 3339.")
        var since: String?
        @Option(help: "Only dead letters that failed before this time, RFC 3339.")
        var until: String?
        @Option(name: .customLong("service"), help: "Only those of this service (classifier or redress-classifier; repeatable).")
        var services: [String] = []
        @Option(name: .customLong("source-topic"), help: "Only those read from this topic: a full name or a short one (received, sla, …), under --prefix (repeatable).")
        var sourceTopics: [String] = []
        @Option(help: "Only those whose reason contains this text (ignoring case).")
        var reasonContains: String?

        var isEmpty: Bool { since == nil && until == nil && services.isEmpty && sourceTopics.isEmpty && reasonContains == nil }

        func validate() throws {
            // A name no service dead-letters under selects nothing, which reads as "nothing to do".
            let known = RedressService.all.flatMap { [$0.name, $0.executable] }
            for service in services where !service.isEmpty && !known.contains(service.lowercased()) {
                throw ValidationError("--service '\(service)' is not a Redress service: one of \(RedressService.all.map(\.name).joined(separator: ", ")) (or redress-<name>)")
            }
        }

        func filter(prefix: String, positions: [DeadLetterPosition] = []) throws -> DeadLetterFilter {
            let start = try since.map { try DateTimeOption.parse($0, option: "--since") }
            let end = try until.map { try DateTimeOption.parse($0, option: "--until") }
            if let start, let end, end <= start { throw ValidationError("--until must come after --since") }
            if sourceTopics.contains("") { throw ValidationError("--source-topic must not be empty") }
            let topics: [String]
            do { topics = sourceTopics.isEmpty ? [] : try TailFollower.topicNames(sourceTopics, prefix: prefix) } catch let error as TailError {
                throw ValidationError("--source-topic: \(error.description)")
            }
            let filter = DeadLetterFilter(
                since: start, until: end, services: Set(services), sourceTopics: Set(topics), reasonContains: reasonContains, positions: Set(positions))
            do { try filter.validate() } catch { throw ValidationError(error.description) }
            return filter
        }
    }

    static func positions(_ arguments: [String]) throws -> [DeadLetterPosition] {
        try arguments.map { argument in
            guard let position = DeadLetterPosition(argument) else {
                throw ValidationError("'\(argument)' is not a dead letter's PARTITION:OFFSET such as 2:17 (see `redress deadletter list`)")
            }
            return position
        }
    }

    static func logger(_ label: String) -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = .warning
        return logger
    }

    /// Positions asked for that were not found, said on stderr; whether any was missing.
    static func reportMissing(_ positions: [DeadLetterPosition], found: [DeadLetter], topic: String) -> Bool {
        let missing = Set(positions).subtracting(found.map(\.position)).sorted()
        for position in missing {
            FileHandle.standardError.write(Data("no dead letter at \(position) on \(topic) (or not selected by the filters)\n".utf8))
        }
        return !missing.isEmpty
    }

    /// `redress deadletter list`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One line per dead letter: position, failed at, service, source topic@partition/offset, attempts, hotel, reason.")

        @OptionGroup var connection: Connection
        @OptionGroup var selection: Selection

        func run() async throws {
            let filter = try selection.filter(prefix: connection.topicPrefix)
            let letters = try await connection.read(filter, logger: DeadLetterCommand.logger("redress.deadletter"))
            for letter in letters { print(letter.summary()) }
            FileHandle.standardError.write(Data("\(letters.count) dead letters on \(connection.deadLetterTopic)\n".utf8))
        }
    }

    /// `redress deadletter show`.
    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A dead letter in full: reason, source, key, headers and the original value as text (base64 when it is not UTF-8).")

        @Argument(help: "PARTITION:OFFSET of the dead letter on the dead-letter topic (repeatable).")
        var positions: [String]
        @OptionGroup var connection: Connection

        func validate() throws {
            if positions.isEmpty { throw ValidationError("name a dead letter: PARTITION:OFFSET, as `redress deadletter list` shows it") }
            _ = try DeadLetterCommand.positions(positions)
        }

        func run() async throws {
            let wanted = try DeadLetterCommand.positions(positions)
            let letters = try await connection.read(DeadLetterFilter(positions: Set(wanted)), logger: DeadLetterCommand.logger("redress.deadletter"))
            print(letters.map { $0.details() }.joined(separator: "\n\n"))
            if DeadLetterCommand.reportMissing(wanted, found: letters, topic: connection.deadLetterTopic) { throw ExitCode(1) }
        }
    }

    /// `redress deadletter redrive`.
    struct Redrive: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Publish dead letters' originals again to their source topics, once their cause is fixed.",
            discussion: """
                Selects dead letters by PARTITION:OFFSET and/or the filters (both: those named that pass the filters; \
                --all for every one), and publishes each original — its key, value and headers as they were, plus the \
                header redress-redriven-from: <dead-letter topic>/<partition>/<offset> — to the topic it was read from, \
                waiting for the broker's acknowledgement of each. It prints what it sent (--dry-run: what it would send).
                Refused, the others still sent and the exit status 1 at the end: a dead letter whose value was truncated \
                (a copy would be a different message), one whose source is a dead-letter topic or a topic the cluster \
                lacks (another --prefix?; checked in a dry run too), and, without --force: one that may not hold its \
                original exactly (a key of 4 KiB, a header value of 1 KiB, 64 headers or a header key of 255 characters: \
                the limits at which a dead letter cuts without saying so; a header key with U+FFFD, which stands for a \
                NUL), and one whose original (its event time, or when it failed if earlier) is older than the services' \
                inboxes remember less a day's margin for consumer lag (a group that lags may read the copy a day after \
                the redrive). The window is --inbox-retention-days, else $INBOX_RETENTION_DAYS: give the smallest \
                INBOX_RETENTION_DAYS of any service reading the source topics (9 unless they set it). With neither, a \
                redrive is refused unless --force: no figure is assumed, since services accept 1 to 3650 days. Every \
                refusal and the summary say the window assumed and where it came from.
                A dead letter whose original carries redress-redriven-from naming another dead letter this run selects \
                (a copy that failed again because the cause was not fixed) is skipped: the original goes once.
                What happens then: every consumer group of the source topic receives the copy, with the original's \
                event id. A consumer's dead letter goes to the partition its original was read from (if the topic \
                still has it), where the complaint's other events are; an outbox row's goes where its key leads. The \
                service that dead-lettered it never recorded the id (its transaction was rolled back), so \
                it applies the copy; groups that applied the original skip it by its id — for as long as their inbox \
                remembers it, INBOX_RETENTION_DAYS after they applied it. Past that, they would apply it a second time: \
                hence the refusal without --force. The copy is stamped with the time of the redrive, so it is never \
                passed over as older than the inbox remembers. It lands after the complaint's later events on its \
                partition. Fix the cause first, or the service dead-letters the copy again (a new dead letter).
                """)

        @Argument(help: "PARTITION:OFFSET of dead letters to redrive (none: those the filters select).")
        var positions: [String] = []
        @OptionGroup var connection: Connection
        @OptionGroup var selection: Selection
        @Flag(help: "Redrive every dead letter the filters select when none is given (needed when there are no filters and no positions).")
        var all = false
        @Flag(help: "Only print what would be sent.")
        var dryRun = false
        @Flag(help: "Redrive dead letters older than the inboxes' window less a day, and those that may not hold their original exactly, too (services that applied the original may apply it again).")
        var force = false
        @Option(help: "Days the services' inboxes remember an event: the smallest INBOX_RETENTION_DAYS of any service reading the source topics (default: $INBOX_RETENTION_DAYS; with neither, only --force redrives). Originals older than this less a day (consumer lag) are refused.")
        var inboxRetentionDays: Int?

        func validate() throws {
            _ = try DeadLetterCommand.positions(positions)
            if positions.isEmpty && selection.isEmpty && !all {
                throw ValidationError("select what to redrive: PARTITION:OFFSET arguments, filters (--since, --service, --source-topic, --reason-contains), or --all")
            }
            if let inboxRetentionDays, !(1...3650).contains(inboxRetentionDays) { throw ValidationError("--inbox-retention-days must be 1 to 3650, as the services accept") }
        }

        func run() async throws {
            let wanted = try DeadLetterCommand.positions(positions)
            let filter = try selection.filter(prefix: connection.topicPrefix, positions: wanted)
            let logger = DeadLetterCommand.logger("redress.deadletter")
            let window: InboxWindow?
            do {
                window = try InboxWindow.resolve(option: inboxRetentionDays, environment: ProcessInfoEnvironment.value("INBOX_RETENTION_DAYS"), force: force)
            } catch { throw ValidationError(error.description) }
            let letters = try await connection.read(filter, logger: logger)
            var missing = DeadLetterCommand.reportMissing(wanted, found: letters, topic: connection.deadLetterTopic)
            if letters.isEmpty {
                print("no dead letter selected on \(connection.deadLetterTopic)")
                if missing { throw ExitCode(1) }
                return
            }
            var redrive = DeadLetterRedrive(window: window)
            redrive.force = force
            let report: (DeadLetter, DeadLetterRedrive.Outcome) -> Void = { letter, outcome in
                print(DeadLetterRedrive.line(letter, outcome))
                fflushStandardOutput()
            }
            // A dry run too asks the cluster which source topics exist (and sends nothing).
            var configuration = KafkaProducerConfiguration(bootstrapServers: try connection.brokerList(), clientID: "redress-deadletter-redrive")
            // An operator waits for each acknowledgement: a broker away fails the message within a minute.
            configuration.messageTimeout = .seconds(60)
            let producer = try KafkaProducer(configuration: configuration, logger: logger)
            let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [producer], gracefulShutdownSignals: [], logger: logger))
            let dryRun = dryRun
            let outcomes = try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                let outcomes = await redrive.redrive(letters, producer: producer, dryRun: dryRun, report: report)
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
                return outcomes
            }
            let sent = outcomes.filter { if case .sent = $0 { true } else { false } }.count
            let refused = outcomes.filter { if case .refused = $0 { true } else { false } }.count
            let failed = outcomes.filter { if case .failed = $0 { true } else { false } }.count
            let skipped = outcomes.filter { if case .skipped = $0 { true } else { false } }.count
            let wouldSend = outcomes.filter { $0 == .wouldSend }.count
            print(dryRun
                ? "dry run: \(wouldSend) would be sent, \(refused) refused, \(skipped) skipped, \(failed) failed; \(redrive.assumption)"
                : "\(sent) sent, \(refused) refused, \(skipped) skipped, \(failed) failed; \(redrive.assumption)")
            missing = missing || refused > 0 || failed > 0
            if missing { throw ExitCode(1) }
        }
    }
}
