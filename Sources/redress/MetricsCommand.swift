import Access
import ArgumentParser
import AsyncHTTPClient
import ComplaintEvents
import ComplaintMetrics
import ComplaintPipeline
import ComplaintStore
import EventReplay
import Foundation
import Histogram
import HotelTime
import Logging
import NIOCore
import NIOHTTP1
import PostgresNIO
import RdKafka
import ServiceLifecycle
import Synchronization

/// `redress metrics …`: rebuild the metrics rollups from the topics; benchmark the metrics stage.
struct MetricsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics",
        abstract: "Rebuild the metrics rollups from the event log, or benchmark the metrics stage.",
        subcommands: [Rebuild.self, Bench.self]
    )

    /// `redress metrics rebuild` (also `redress replay metrics`): replays the topics into a fresh schema
    /// and shows its KPIs beside the live ones.
    struct Rebuild: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replay every topic into a fresh rollup schema (a new consumer group) and compare its KPIs with the live schema's.")

        @OptionGroup var options: MetricsRebuildOptions

        func run() async throws { try await options.run() }
    }

    /// `redress metrics bench`: events absorbed per second, and KPI API latency over a million complaints.
    struct Bench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure events per second the metrics stage absorbs, and KPI API latency p50/p99 over a large history.")

        @Option(help: "Complaints whose lives (7 events each) are published at full speed.")
        var complaints = 5000

        @Option(help: "Complaints of history loaded for the API run.")
        var history = 1_000_000

        @Option(help: "Requests per query shape in the API run.")
        var requests = 200

        @OptionGroup var target: BenchTargetOptions

        @Flag(help: "Keep the bench schema (named in the output).")
        var keep = false

        static let hotels = (1...10).map { String(format: "BENCH-H%02d", $0) }

        func run() async throws {
            let url = try target.database.url()
            var logger = Logger(label: "redress.metrics-bench")
            logger.logLevel = .warning
            let (servers, embedded) = try target.cluster(logger: logger)
            defer { withExtendedLifetime(embedded) {} }
            let run = UUID().uuidString.prefix(8).lowercased()
            var topics = MetricsService.Topics()
            let names = try await makeBenchTopics(["received", "classified", "assigned", "updated", "sla", "notifications", "alerts"], run: run, embedded: embedded, brokers: servers, logger: logger)
            topics.received = topics.received.renamed(names[0])
            topics.classified = topics.classified.renamed(names[1])
            topics.assigned = topics.assigned.renamed(names[2])
            topics.updated = topics.updated.renamed(names[3])
            topics.sla = topics.sla.renamed(names[4])
            topics.notifications = topics.notifications.renamed(names[5])
            topics.alerts = topics.alerts.renamed(names[6])

            let schema = try SchemaName("metrics_bench_\(run)")
            let service = RedressService(name: "metrics", executable: "redress-metrics-bench-\(run)", schema: schema, developmentPort: 0)
            var settings = ServiceSettings(
                kafkaBrokers: servers, databaseURL: url, httpHost: "127.0.0.1", httpPort: 0, logLevel: .warning, shutdownTimeout: .seconds(20))
            settings.kafkaProperties = ["fetch.wait.max.ms": "10"]
            settings.access.ratePerSecond = 100_000
            // A group-wide year is seconds of work: measure it rather than cut it at the API's default 5 s.
            settings.access.databaseTimeout = .seconds(60)
            let metrics = MetricsSettings(hotels: Self.hotels.map { MetricsSettings.Hotel(id: $0, timeZone: TimeZone(identifier: "Asia/Shanghai")!, rooms: 300) })
            var parts = MetricsService.Parts()
            parts.earlyWarning = false
            parts.gauges = nil
            var runtime = MetricsService.makeRuntime(
                service: service, settings: settings, settings: LiveConfiguration(name: "bench", fixed: metrics), topics: topics, parts: parts,
                logger: logger)
            runtime.deadLetterTopic = names[6]
            let stagePort = Mutex(0)
            runtime.onServerRunning = { (port: Int) in stagePort.withLock { $0 = port } }
            let stage = try runtime.makeServiceGroup()
            let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: servers, clientID: "metrics-bench"), logger: logger)
            let client = PostgresClient(configuration: try DatabaseConfiguration(url: url).makeClientConfiguration(), backgroundLogger: logger)
            let others = ServiceGroup(configuration: ServiceGroupConfiguration(services: [producer, client], gracefulShutdownSignals: [], logger: logger))

            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await stage.run() }
                tasks.addTask { try await others.run() }
                try await waitUntilReady(port: stagePort)
                // A moment for the stage's consumer to join its group before the clock starts.
                try await Task.sleep(for: .seconds(3))
                let base = "http://127.0.0.1:\(stagePort.withLock { $0 })"
                do {
                    try await absorb(topics: topics, producer: producer, client: client, schema: schema, logger: logger)
                    try await api(base: base, client: client, schema: schema, logger: logger)
                } catch {
                    print("bench failed: \(error)")
                }
                await stage.triggerGracefulShutdown()
                if !keep { try? await Migrator(client: client, logger: logger).drop(schema) }
                await others.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
            print(keep ? "kept schema \(schema)" : "dropped schema \(schema)")
        }

        /// Publishes every complaint's life at full speed; waits until the stage applied every event.
        func absorb(topics: MetricsService.Topics, producer: KafkaProducer, client: PostgresClient, schema: SchemaName, logger: Logger) async throws {
            let total = complaints * 7
            let start = ContinuousClock.now
            for index in 0..<complaints {
                let id = UUID(), hotel = Self.hotels[index % Self.hotels.count]
                let registered = Date().addingTimeInterval(-Double(index % 3600))
                func send<Payload>(_ payload: Payload, at time: Date, on topic: Topic<Payload>) throws {
                    let event = EventEnvelope(source: "/redress/metrics-bench", time: time, hotelID: hotel, data: payload)
                    try producer.send(KafkaProducerMessage(
                        topic: topic.name, key: topic.key(for: event).map { ByteBuffer(bytes: $0) }, value: ByteBuffer(bytes: try topic.encode(event))))
                }
                let category = ComplaintCategory.allCases[index % ComplaintCategory.allCases.count]
                let severity = Severity.allCases[index % Severity.allCases.count]
                try send(ComplaintReceived(
                    complaintID: id, hotelID: hotel, source: "bench", externalID: "bench-\(id)", channel: .app, reportedAt: registered,
                    registeredAt: registered, text: "The air conditioning is broken", guest: GuestSummary(isVIP: false),
                    reporter: Reporter(kind: .guest)), at: registered, on: topics.received)
                try send(ComplaintClassified(
                    complaintID: id, classifiedAt: registered.addingTimeInterval(1), category: category, severity: severity, priority: 2, language: "en",
                    sentiment: -0.5, flags: ClassificationFlags(isVIP: false, isRepeat: false, involvesSafety: false, threatensReview: false, needsHumanReview: false),
                    confidence: 0.9, explanation: ClassificationExplanation(classifier: "bench", version: "1", matchedRules: [], matchedTerms: []),
                    registeredAt: registered), at: registered, on: topics.classified)
                try send(ComplaintAssigned(
                    complaintID: id, assignedAt: registered.addingTimeInterval(2), registeredAt: registered, category: category, severity: severity,
                    priority: 2, department: "engineering", assignee: Assignee(staffID: "staff-\(index % 50)", name: "Staff", role: .staff),
                    strategy: "least_loaded", reason: .initial, escalationLevel: 0), at: registered, on: topics.assigned)
                let actor = EventActor(id: "staff-\(index % 50)", role: .staff)
                for (change, after, status) in [
                    (ComplaintUpdated.Change.acknowledged, 120.0, ComplaintStatus.acknowledged),
                    (.resolved(Resolution(text: "fixed", rootCause: "hvac_failure", isFirstContact: index % 2 == 0)), 1800, .resolved),
                    (.closed, 90_000, .closed),
                ] {
                    let at = registered.addingTimeInterval(after)
                    try send(ComplaintUpdated(complaintID: id, change: change, occurredAt: at, actor: actor, statusAfter: status), at: at, on: topics.updated)
                }
                try send(ComplaintSLAEvent(
                    complaintID: id, milestone: .met, target: .acknowledge, severity: severity, deadline: registered.addingTimeInterval(300),
                    occurredAt: registered.addingTimeInterval(120)), at: registered, on: topics.sla)
            }
            let query = PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(schema).processed_events")
            var applied = 0
            while applied < total {
                try await Task.sleep(for: .milliseconds(100))
                applied = try await client.query(query, logger: logger).collect().first?.decode(Int.self) ?? 0
                if ContinuousClock.now - start > .seconds(max(120, total / 100)) {
                    print("absorb: only \(applied) of \(total) events applied before the timeout")
                    return
                }
            }
            let elapsed = ContinuousClock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            print(String(format: "absorb: %d events (%d complaints × 7) applied in %.2f s = %.0f events/s", total, complaints, seconds, Double(total) / seconds))
        }

        /// Loads `history` complaints spread over 10 hotels and 400 days straight into the rollup (200,000
        /// guests), then
        /// measures `/v1/kpis` for three query shapes.
        func api(base: String, client: PostgresClient, schema: SchemaName, logger: Logger) async throws {
            let loadStart = ContinuousClock.now
            let categories = ComplaintCategory.allCases.map(\.rawValue), severities = Severity.allCases.map(\.rawValue)
            let channels = ComplaintChannel.allCases.map(\.rawValue)
            // Registered in time order, as a live hotel's complaints are (rows of one period sit together).
            try await client.query("""
                INSERT INTO \(unescaped: schema.rawValue).complaints (
                    complaint_id, hotel_id, registered_at, channel, guest_key, is_repeat, category, severity, department, status, status_at,
                    acknowledged_at, first_resolved_at, resolved_at, closed_at, first_contact, root_cause, reopen_count, acknowledge_met,
                    acknowledge_breaches, resolve_met, resolve_breaches, escalation_level, satisfaction, nps, followed_up_at)
                SELECT gen_random_uuid(), hotel, r, (\(channels)::text[])[1 + n % 8], guest,
                       coalesce(r - lag(r) OVER (PARTITION BY guest, hotel ORDER BY r) <= interval '30 days', false),
                       (\(categories)::text[])[1 + n % 11], (\(severities)::text[])[1 + n % 3], 'engineering', 'closed', r + interval '2 days',
                       r + (60 + n % 1800) * interval '1 second', r + (600 + n % 86400) * interval '1 second',
                       r + (600 + n % 86400) * interval '1 second', r + interval '2 days', n % 3 = 0, 'cause_' || (n % 12), (n % 17 = 0)::int,
                       (n % 9 <> 0)::int, (n % 9 = 0)::int, (n % 7 <> 0)::int, (n % 7 = 0)::int, (n % 13 = 0)::int,
                       CASE WHEN n % 4 = 0 THEN 1 + n % 5 END, CASE WHEN n % 4 = 0 THEN n % 11 END,
                       CASE WHEN n % 4 = 0 THEN r + interval '1 day' END
                FROM (SELECT n, 'BENCH-H' || lpad((1 + n % 10)::text, 2, '0') AS hotel, md5((n % 200000)::text) || md5((n % 200000)::text) AS guest,
                             now() - interval '400 days' * random() AS r
                      FROM generate_series(1, \(history)) AS n) AS s
                ORDER BY r
                """, logger: logger)
            try await client.query("INSERT INTO \(unescaped: schema.rawValue).hotels (hotel_id) SELECT DISTINCT hotel_id FROM \(unescaped: schema.rawValue).complaints ON CONFLICT DO NOTHING", logger: logger)
            // A live table is vacuumed by autovacuum as it grows; after a bulk load, do it once (index-only scans need it).
            try await client.query("VACUUM ANALYZE \(unescaped: schema.rawValue).complaints", logger: logger)
            let loaded = ContinuousClock.now - loadStart
            print("api: \(history) complaints of history loaded in \(loaded.formatted(.units(allowed: [.seconds], fractionalPart: .show(length: 1))))")

            let keys = APIKeyStore()
            let admin = try await keys.create(name: "metrics-bench", role: .admin, hotels: [], ratePerSecond: 100_000, client: client, logger: logger)
            defer { Task { _ = try? await keys.revoke(id: admin.record.id, client: client, logger: logger) } }
            let today = ZonedCalendar(timeZone: TimeZone(identifier: "Asia/Shanghai")!).day(of: Date())
            let calendar = ZonedCalendar(timeZone: .gmt)
            let monthAgo = calendar.day(today, plus: -29) ?? today, yearAgo = calendar.day(today, plus: -364) ?? today
            let shapes = [
                ("one hotel, 30 days by day", "hotel=BENCH-H01&from=\(monthAgo)&to=\(today)&groupBy=day"),
                ("one hotel, 365 days by month", "hotel=BENCH-H01&from=\(yearAgo)&to=\(today)&groupBy=month"),
                ("10 hotels, 30 days by hotel", "from=\(monthAgo)&to=\(today)&groupBy=hotel"),
                ("10 hotels, 365 days by category", "from=\(yearAgo)&to=\(today)&groupBy=category"),
            ]
            for (label, query) in shapes {
                var latency = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
                var volume = 0
                for index in 0..<(requests + 5) {
                    var request = HTTPClientRequest(url: base + "/v1/kpis?" + query)
                    request.headers.add(name: "Authorization", value: "Bearer \(admin.key)")
                    let start = ContinuousClock.now
                    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
                    let body = try await response.body.collect(upTo: 16 << 20)
                    let elapsed = ContinuousClock.now - start
                    guard response.status == .ok else { throw ValidationError("\(query): \(response.status) \(String(buffer: body))") }
                    // The first requests warm the caches; they are not counted.
                    guard index >= 5 else { continue }
                    latency.record(UInt64(max(0, elapsed.microseconds)))
                    if volume == 0, let report = try? JSONDecoder().decode(KPIReport.self, from: Data(body.readableBytesView)) { volume = report.totals.volume }
                }
                print(String(
                    format: "api: %@ (%d complaints counted): p50 %.1f ms, p99 %.1f ms, max %.1f ms over %d requests", label, volume,
                    Double(latency.valueAtPercentile(50)) / 1000, Double(latency.valueAtPercentile(99)) / 1000, Double(latency.max) / 1000, requests))
            }
        }
    }
}

/// The options and work of a metrics rebuild, shared by `redress metrics rebuild` and `redress replay metrics`.
struct MetricsRebuildOptions: ParsableArguments {
    @OptionGroup var kafka: KafkaBrokersOption

    @OptionGroup var database: DatabaseURLOption

    @Option(help: "The metrics file (default: services/metrics/metrics.yaml).")
    var metricsFile: String?

    @Option(help: "First local day compared, YYYY-MM-DD (default: 30 days before --to).")
    var from: String?

    @Option(help: "Last local day compared, YYYY-MM-DD (default: yesterday, UTC: today is still filling up).")
    var to: String?

    @Option(help: "Seconds the replay may take.")
    var timeout = 600

    @OptionGroup var prefix: TopicPrefixOption

    @Flag(help: "Keep the rebuilt schema (named in the output) instead of dropping it.")
    var keep = false

    @OptionGroup var dataDirectory: DataDirectoryOption

    /// The local days compared: --from … --to, by default the 30 days up to yesterday (UTC).
    func days() throws -> (first: LocalDate, last: LocalDate) {
        let calendar = ZonedCalendar(timeZone: .gmt)
        guard let last = to.map({ LocalDate($0) }) ?? calendar.day(calendar.day(of: Date()), plus: -1) else { throw ValidationError("--to must be a date YYYY-MM-DD") }
        guard let first = from.map({ LocalDate($0) }) ?? calendar.day(last, plus: -29) else { throw ValidationError("--from must be a date YYYY-MM-DD") }
        return (first, last)
    }

    func validate() throws {
        let (first, last) = try days()
        guard first <= last else { throw ValidationError("--from \(first) is after --to \(last)\(to == nil ? " (by default yesterday, UTC)" : ""): no day to compare") }
        guard timeout >= 1 else { throw ValidationError("--timeout must be at least 1 second") }
    }

    func run() async throws {
        let url = try database.url(dataDir: dataDirectory.dataDir)
        let servers = try kafka.servers(dataDir: dataDirectory.dataDir)
        let (first, last) = try days()
        var logger = Logger(label: "redress.metrics-rebuild")
        logger.logLevel = .warning
        let metrics = try MetricsFile.load(contentsOf: metricsFile ?? ServiceFiles.locate(MetricsFile.defaultPath))
        var settings = ServiceSettings(
            kafkaBrokers: servers, databaseURL: url, httpHost: "127.0.0.1", httpPort: 0, logLevel: .warning,
            shutdownTimeout: .seconds(20))
        settings.kafkaProperties = ProcessInfoEnvironment.value("KAFKA_FETCH_WAIT_MAX_MS").map { ["fetch.wait.max.ms": $0] } ?? [:]
        settings.topicPrefix = prefix.topicPrefix
        let stamp = Int(Date().timeIntervalSince1970)
        let schema = try SchemaName("metrics_rebuild_\(stamp)")
        let rebuild = MetricsRebuild(settings: settings, metrics: metrics, schema: schema, logger: logger)
        let under = settings.topicPrefix.isEmpty ? "" : " under the prefix \(settings.topicPrefix) (\(rebuild.prefixedTopics.received.name), …)"
        print("replaying the topics\(under) into schema \(schema) (consumer group \(rebuild.service.executable))")
        fflushStandardOutput()
        let client = PostgresClient(configuration: try DatabaseConfiguration(url: url).makeClientConfiguration(), backgroundLogger: logger)
        let differing = try await withThrowingTaskGroup(of: Int.self) { tasks in
            tasks.addTask {
                await client.run()
                return 0
            }
            defer { tasks.cancelAll() }
            // The rebuilt schema goes, also when the replay or the comparison fails (unless kept).
            do {
                // Live facts applied from here on may be missing from the replay: their complaints are left out.
                let marked = try await MetricsRebuild.markTime(client: client, logger: logger)
                let started = ContinuousClock.now
                let outcome = try await rebuild.run(timeout: .seconds(timeout)) { remaining in
                    print("  \(remaining) messages to go")
                    fflushStandardOutput()
                }
                let elapsed = ContinuousClock.now - started
                print("caught up with \(outcome.range.messages) messages in \(elapsed.formatted(.units(allowed: [.seconds], fractionalPart: .show(length: 1))))")
                // The live group may lag: what the replay read must be in the live schema too before comparing.
                // Its offsets not answering for the whole wait is no reason to throw away the replay's work: compared as for a lag.
                let liveGroup = settings.topicPrefix + RedressService.metrics.executable
                do {
                    if !(try await rebuild.waitForLiveGroup(reaching: outcome.range.stop, timeout: .seconds(60))) {
                        print("warning: the live group \(liveGroup) has not reached the replay's end within 60 s; complaints it has not applied yet will differ")
                    }
                } catch {
                    try Task.checkCancellation()
                    print("warning: the live group \(liveGroup)'s offsets could not be asked within 60 s (\(error)); complaints it has not applied yet will differ")
                }
                // The file's hotels and those either schema has seen: a hotel only live knows shows as differing.
                let hotels = try await MetricsRebuild.hotelsToCompare(
                    RedressService.metrics.schema, with: schema, settings: metrics, client: client, logger: logger)
                let comparisons = try await MetricsRebuild.compare(
                    RedressService.metrics.schema, with: schema, hotels: hotels, from: first, to: last, now: Date(),
                    unchangedSince: marked, settings: metrics, client: client, logger: logger)
                print("KPIs \(first) … \(last), live schema \(RedressService.metrics.schema) beside the rebuild:")
                for comparison in comparisons {
                    let verdict = comparison.differences.isEmpty ? "same numbers" : "differs in " + comparison.differences.joined(separator: ", ")
                    let left = comparison.excluded == 0 ? "" : " (\(comparison.excluded) changed since the replay began left out)"
                    print("  \(comparison.hotelID): \(comparison.live.totals.volume) / \(comparison.rebuilt.totals.volume) complaints\(left) — \(verdict)")
                }
                if !keep { try await Migrator(client: client, logger: logger).drop(schema) }
                return comparisons.filter { !$0.differences.isEmpty }.count
            } catch {
                await MigrateCommand.dropAfterFailure(schema, keep: keep, client: client, logger: logger)
                throw error
            }
        }
        print(keep ? "kept schema \(schema)" : "dropped schema \(schema)")
        // Complaints changed after the replay's end marks are left out; a difference left is a real one.
        if differing > 0 { throw ExitCode(1) }
    }
}
