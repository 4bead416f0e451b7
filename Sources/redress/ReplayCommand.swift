import ArgumentParser
import Classifier
import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import EventReplay
import Foundation
import Logging
import PostgresNIO
import Prometheus
import RdKafka

/// `redress replay SERVICE`: re-reads a time range of a service's input topics into a fresh schema
/// under a fresh consumer group, publishing nothing, and shows whether the result matches what the
/// live service produced: the event log is the system of record.
struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Replay a time range of a service's input topics into a fresh schema and compare the result with the live one.",
        discussion: """
            classifier: complaints.received.v1 in [--from, --to) through the classifier's own handler (the rules, \
            model and settings this process loads, as the service does); its classifications are compared, field by \
            field, with those the live classifier published on complaints.classified.v1.
            metrics: every topic from the first message kept into a fresh rollup schema; the KPIs of the days \
            --from … --to are compared with the live schema's (the same as `redress metrics rebuild`).
            Nothing is published: outputs stay in the fresh schema, dead letters are logged. assignment, sla-watcher \
            and notifier decide by the clock (shifts, deadlines, quiet hours), so a replay of their inputs answers \
            differently by design; `redress sla backtest` is the what-if for SLA policies.
            """,
        subcommands: [Classifier.self, Metrics.self])

    /// `redress replay classifier`.
    struct Classifier: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replay complaints.received.v1 through the classifier and compare with complaints.classified.v1.")

        @Option(help: "First message time replayed, RFC 3339 (default: the first message kept).")
        var from: String?

        @Option(help: "First message time not replayed, RFC 3339 (default: the topic's end when the replay starts).")
        var to: String?

        @OptionGroup var kafka: KafkaBrokersOption

        @OptionGroup var database: DatabaseURLOption

        @OptionGroup var prefix: TopicPrefixOption

        @Option(help: "Differences printed in full.")
        var show = 10

        @Option(help: "Seconds the replay may take.")
        var timeout = 600

        @Flag(help: "Call the external model (CLASSIFIER_EXTERNAL_URL) for every replayed complaint too; by default a replay leaves it out, so that no guest's text leaves the system (and nothing is billed) for a what-if.")
        var withExternal = false

        @Flag(help: "Keep the replay's schema (named in the output) instead of dropping it.")
        var keep = false

        @OptionGroup var dataDirectory: DataDirectoryOption

        /// How long the comparison waits for the live classifier's group to reach the replay's end (as `metrics rebuild` does for its own).
        static let liveGroupWait = Duration.seconds(60)

        func validate() throws {
            guard show >= 0 else { throw ValidationError("--show must be 0 or more (differences printed in full)") }
            guard timeout >= 1 else { throw ValidationError("--timeout must be at least 1 second") }
        }

        func run() async throws {
            let start = try from.map { try DateTimeOption.parse($0, option: "--from") }
            let end = try to.map { try DateTimeOption.parse($0, option: "--to") }
            if let start, let end, end <= start { throw ValidationError("--to must come after --from") }
            let url = try database.url(dataDir: dataDirectory.dataDir)
            let brokerList = try kafka.servers(dataDir: dataDirectory.dataDir)
            var logger = Logger(label: "redress.replay")
            logger.logLevel = .warning

            let topicPrefix = prefix.topicPrefix
            let input = Topics.received.renamed(topicPrefix + Topics.received.name)
            let output = Topics.classified.renamed(topicPrefix + Topics.classified.name)
            let settings = ServiceSettings(
                kafkaBrokers: brokerList, databaseURL: url, httpHost: "127.0.0.1", httpPort: 0, logLevel: .warning, shutdownTimeout: .seconds(20))
            var configuration = try await ClassifierConfiguration.load()
            if !withExternal && configuration.plugins.contains("http") {
                configuration.plugins.removeAll { $0 == "http" }
                print("the external model is left out (--with-external calls it for every replayed complaint)")
            }
            let service = try StageReplay.replayService(of: .classifier, stamp: "\(Int(Date().timeIntervalSince1970))")
            // Its own Idempotency-Key scope: a model that keeps answers by key must not give the replay the live
            // calls' (a retrained model would show no change), nor refuse it beside a live call in progress.
            configuration.externalKeyScope = "replay-\(service.schema.rawValue)"
            let engine = try ClassifierService.makeEngine(configuration: configuration, logger: logger)
            let runtime = StageRuntime(
                service: service, settings: settings,
                inputs: [ClassifierService.input(input, ClassifierHandler(engine: engine, outputTopic: output))], logger: logger)
            print("replaying \(input.name) into schema \(service.schema) (consumer group \(service.executable)), classifier \(engine.version)")
            if start != nil { print("  (reading from 30 days before --from: a repeat complaint depends on the guest's complaints of the 30 days before it)") }
            fflushStandardOutput()
            let replay = StageReplay(
                runtime: runtime, from: start, to: end, lookBack: .seconds(Int64(GuestVisit.repeatWindow)), logger: logger)
            let client = PostgresClient(configuration: try DatabaseConfiguration(url: url).makeClientConfiguration(), backgroundLogger: logger)
            let (outcome, report) = try await withThrowingTaskGroup(of: (ReplayOutcome, ReplayComparison.Report)?.self) { tasks in
                tasks.addTask {
                    await client.run()
                    return nil
                }
                defer { tasks.cancelAll() }
                // The replay's schema goes, also when the replay or the comparison fails (unless kept).
                do {
                    let outcome = try await replay.run(timeout: .seconds(timeout)) { remaining in
                        print("  \(remaining) messages to go")
                        fflushStandardOutput()
                    }
                    print(ReplayReportText.summary(outcome))
                    var comparison = ReplayComparison(outputTopics: [output.name], volatileFields: ["classifiedAt"])
                    comparison.setsAside = { ClassificationCorrectionAPI.isStaffCorrection(data: $0.data) }
                    // The live classifier has published verdicts only for what its group has committed: wait for it, bounded.
                    let liveGroup = topicPrefix + RedressService.classifier.executable
                    let report = try await comparison.compare(
                        outcome, liveGroup: liveGroup, wait: Self.liveGroupWait, brokers: brokerList, client: client, logger: logger)
                    if let why = report.liveGroupUnanswered {
                        print("warning: the live group \(liveGroup)'s offsets could not be asked within \(Self.liveGroupWait) (\(why)); nothing tells what it has classified, so every replayed verdict is compared")
                    } else if !report.liveGroupWithoutOffsets.isEmpty {
                        // No commit is no knowledge: a verdict the live classifier never published (it dead-lettered the complaint) must still show.
                        print("warning: the live group \(liveGroup) has no committed offsets on \(report.liveGroupWithoutOffsets.joined(separator: ", ")) (not running under that name: another --topic-prefix, a renamed group, or stopped long enough for the broker to delete its offsets); their complaints are compared as usual")
                    }
                    if report.liveGroupReached == false, !report.notReachedLive.isEmpty {
                        print("warning: the live group \(liveGroup) has not reached the replay's end within \(Self.liveGroupWait); complaints past its committed offsets are listed apart")
                    }
                    if !keep { try await Migrator(client: client, logger: logger).drop(service.schema) }
                    return (outcome, report)
                } catch {
                    await MigrateCommand.dropAfterFailure(service.schema, keep: keep, client: client, logger: logger)
                    throw error
                }
            }!
            print(ReplayReportText.render(report, show: show, replayedAny: outcome.outcomes[.applied, default: 0] > 0))
            print(keep ? "kept schema \(outcome.schema)" : "dropped schema \(outcome.schema)")
            if !report.matches { throw ExitCode(1) }
        }
    }

    /// `redress replay metrics`: the metrics rebuild.
    struct Metrics: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replay every topic into a fresh rollup schema and compare its KPIs with the live schema's (`redress metrics rebuild`).")

        @OptionGroup var options: MetricsRebuildOptions

        func run() async throws { try await options.run() }
    }
}

/// A replay and its comparison as an operator reads them.
enum ReplayReportText {
    static func summary(_ outcome: ReplayOutcome) -> String {
        let applied = outcome.outcomes[.applied, default: 0], duplicates = outcome.outcomes[.duplicate, default: 0]
        let deadLettered = outcome.outcomes[.deadLettered, default: 0], outside = outcome.outcomes[.outsideRange, default: 0]
        var text = "read \(outcome.range.messages) messages in \(outcome.duration.formatted(.units(allowed: [.seconds], fractionalPart: .show(length: 1)))): "
            + "\(applied) applied, \(duplicates) redeliveries skipped, \(deadLettered) would be dead-lettered"
        if outside > 0 { text += ", \(outside) outside the time range passed over" }
        return text
    }

    static func render(_ report: ReplayComparison.Report, show: Int, replayedAny: Bool) -> String {
        var lines = [
            "outputs: \(report.replayed) replayed, \(report.recorded) recorded for the same complaints; \(report.matching) match, "
                + "\(report.differing.count) differ, \(report.onlyReplayed.count) only in the replay, \(report.onlyRecorded.count) only recorded",
        ]
        for (replayed, recorded, fields) in report.differing.prefix(show) {
            lines.append("  differs \(replayed.key) \(replayed.type): \(fields.joined(separator: ", "))")
            lines.append("    recorded \(recorded.data)")
            lines.append("    replayed \(replayed.data)")
        }
        for output in report.onlyReplayed.prefix(show) { lines.append("  only in the replay \(output.key) \(output.type)") }
        for output in report.onlyRecorded.prefix(show) { lines.append("  only recorded \(output.key) \(output.type)") }
        if !report.notReachedLive.isEmpty {
            // The live group had not committed them when compared: nothing published for them yet, not a difference.
            lines.append("\(report.notReachedLive.count) replayed for complaints the live classifier has not reached yet, not compared")
            for output in report.notReachedLive.prefix(show) { lines.append("  not reached live yet \(output.key) \(output.type)") }
        }
        if report.recordedCopies > 0 {
            // The same event id again (a redrive, a relay that published a row twice): the replay's inbox applies it once.
            lines.append("\(report.recordedCopies) recorded again with the same event id (redriven or published twice), compared once")
        }
        if !report.setAside.isEmpty {
            // The classifier's staff corrections: published by its HTTP route, not by the stage a replay runs.
            lines.append("\(report.setAside.count) recorded set by staff, not compared (a replay reproduces the classifier's own verdicts only)")
        }
        if !replayedAny && report.recorded == 0 {
            lines.append("nothing in the range was replayed, so nothing was compared")
        } else {
            lines.append(report.matches ? "the replay matches what the live service published" : "the replay does NOT match")
        }
        return lines.joined(separator: "\n")
    }
}
