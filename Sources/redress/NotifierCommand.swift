import ArgumentParser
import AsyncHTTPClient
import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import Foundation
import Histogram
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import Notifier
import PostgresNIO
import RdKafka
import ServiceLifecycle
import Synchronization

/// `redress notifier …`: tools for the notifier.
struct NotifierCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notifier",
        abstract: "Benchmark the notifier.",
        subcommands: [Bench.self]
    )

    /// `redress notifier bench`: the notifier stage in this process, on its own schema of the PostgreSQL of
    /// `redress up` and its own topics of an embedded cluster in this process (or `--brokers`), delivering signed webhooks to a receiver in this process:
    /// notifications per second at full speed, and the delay from a clock event's publication to its
    /// webhook's arrival at a fixed rate. A benchmark: it prints figures.
    struct Bench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure webhook notifications per second and event-to-delivery delay p50/p99 (against `redress up`'s broker and database).")

        @Option(help: "Clock events published at full speed for the throughput run.")
        var notifications = 5000

        @Option(help: "Events per second for the latency run.")
        var rate = 50

        @Option(help: "Seconds of the latency run.")
        var seconds = 20

        @Option(help: "Calls in flight at once per delivery worker.")
        var concurrency = 8

        @OptionGroup var target: BenchTargetOptions

        func validate() throws {
            guard notifications >= 1, rate >= 1, seconds >= 1, concurrency >= 1 else {
                throw ValidationError("--notifications, --rate, --seconds and --concurrency must be 1 or more")
            }
        }

        func run() async throws {
            let url = try target.database.url()
            var logger = Logger(label: "redress.notifier-bench")
            logger.logLevel = .warning
            let (servers, embedded) = try target.cluster(logger: logger)
            defer { withExtendedLifetime(embedded) {} }
            let receiver = ArrivalRecorder()
            let router = Router()
            router.post("hook") { request, _ -> Response in
                let body = try await request.body.collect(upTo: 1 << 20)
                receiver.arrived(body)
                return Response(status: .noContent)
            }
            let port = Mutex(0)
            let (listening, listeningContinuation) = AsyncStream<Void>.makeStream()
            let application = Application(
                router: router, configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)),
                onServerRunning: { channel in
                    port.withLock { $0 = channel.localAddress?.port ?? 0 }
                    listeningContinuation.yield()
                }, logger: logger)

            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await application.runService() }
                for await _ in listening { break }
                defer { tasks.cancelAll() }
                let hook = "http://127.0.0.1:\(port.withLock { $0 })/hook"
                print("webhooks to \(hook); \(concurrency) calls in flight per worker")
                for (label, count, rate) in [("full speed", notifications, nil as Int?), ("\(rate)/s for \(seconds) s", rate * seconds, rate)] {
                    let result = try await measure(
                        count: count, rate: rate, hook: hook, brokers: servers, embedded: embedded, databaseURL: url, receiver: receiver, logger: logger)
                    print(String(
                        format: "%@: %d delivered in %.2f s = %.0f notifications/s; event → webhook p50 %.1f ms, p99 %.1f ms, max %.1f ms",
                        label, result.delivered, result.seconds, Double(result.delivered) / result.seconds,
                        Double(result.latency.valueAtPercentile(50)) / 1000, Double(result.latency.valueAtPercentile(99)) / 1000,
                        Double(result.latency.max) / 1000))
                }
            }
        }

        struct Result {
            var delivered: Int
            var seconds: Double
            var latency: Histogram<UInt64>
        }

        /// One run on a fresh schema and fresh topics: publish `count` breaches (at `rate`, or as fast as
        /// possible), wait until every webhook arrived.
        func measure(
            count: Int, rate: Int?, hook: String, brokers: [String], embedded: EmbeddedKafkaCluster?, databaseURL: String,
            receiver: ArrivalRecorder, logger: Logger
        ) async throws -> Result {
            let run = UUID().uuidString.prefix(8).lowercased()
            var topics = NotifierService.Topics()
            let names = try await makeBenchTopics(["received", "assigned", "updated", "sla", "notifications"], run: run, embedded: embedded, brokers: brokers, logger: logger)
            topics.received = topics.received.renamed(names[0])
            topics.assigned = topics.assigned.renamed(names[1])
            topics.updated = topics.updated.renamed(names[2])
            topics.sla = topics.sla.renamed(names[3])
            topics.notifications = topics.notifications.renamed(names[4])

            let schema = try SchemaName("notifier_bench_\(run)")
            let service = RedressService(name: "notifier", executable: "redress-notifier-bench-\(run)", schema: schema, developmentPort: 0)
            var settings = ServiceSettings(
                kafkaBrokers: brokers, databaseURL: databaseURL, httpHost: "127.0.0.1", httpPort: 0, logLevel: .warning, shutdownTimeout: .seconds(20))
            settings.kafkaProperties = ["fetch.wait.max.ms": "10"]
            let rulesText = """
                endpoints:
                  hook: {channel: webhook, url: "\(hook)", secret: bench-secret-0123456789}
                rules:
                  - {name: breach, on: [sla.breached], to: ["endpoint:hook"], template: sla_breached_staff}
                """
            let rules = try RulesFile.load(try ConfigurationFile(text: rulesText, path: "bench-rules.yaml"))
            let templates = try TemplateCatalog(folder: ServiceFiles.locate(TemplateCatalog.defaultPath))
            var runtime = NotifierService.makeRuntime(
                service: service, settings: settings,
                delivery: NotifierService.Delivery(
                    rules: LiveConfiguration(name: "bench-rules", fixed: rules), templates: templates, channels: [WebhookChannel()],
                    guests: nil, surveySecret: nil),
                topics: topics, logger: logger)
            runtime.workerConfiguration.concurrency = concurrency
            runtime.deadLetterTopic = names[4]
            let stagePort = Mutex(0)
            runtime.onServerRunning = { (port: Int) in stagePort.withLock { $0 = port } }
            let stage = try runtime.makeServiceGroup()
            let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: brokers, clientID: "notifier-bench"), logger: logger)
            let producerGroup = ServiceGroup(configuration: ServiceGroupConfiguration(services: [producer], gracefulShutdownSignals: [], logger: logger))

            let result = try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await stage.run() }
                tasks.addTask { try await producerGroup.run() }
                // Ready: the stage's migrations applied; then a moment for its consumer to join its group.
                try await waitUntilReady(port: stagePort)
                try await Task.sleep(for: .seconds(3))
                receiver.reset(expecting: count)

                let start = ContinuousClock.now
                let interval: Duration? = rate.map { .nanoseconds(1_000_000_000 / Int64($0)) }
                for index in 0..<count {
                    if let interval { try await Task.sleep(until: start + interval * index, clock: .continuous) }
                    let now = Date()
                    let event = EventEnvelope(source: "/redress/notifier-bench", time: now, hotelID: "BENCH-H01", data: ComplaintSLAEvent(
                        complaintID: UUID(), milestone: .breached, target: .resolve, severity: .serious, deadline: now, occurredAt: now))
                    receiver.sent(event.id)
                    try producer.send(KafkaProducerMessage(
                        topic: topics.sla.name, key: topics.sla.key(for: event).map { ByteBuffer(bytes: $0) },
                        value: ByteBuffer(bytes: try topics.sla.encode(event))))
                }
                let finished = await receiver.waitForAll(timeout: .seconds(max(120, count / 20)))
                let elapsed = (receiver.lastArrival ?? ContinuousClock.now) - start
                await stage.triggerGracefulShutdown()
                await producerGroup.triggerGracefulShutdown()
                try await tasks.waitForAll()
                if !finished { print("  only \(receiver.count) of \(count) arrived before the timeout") }
                return Result(delivered: receiver.count, seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18, latency: receiver.latency)
            }
            let client = PostgresClient(configuration: try DatabaseConfiguration(url: databaseURL).makeClientConfiguration(), backgroundLogger: logger)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { await client.run() }
                // Where the time goes: publication → intent recorded (consumed, planned, committed), and
                // recorded → settled (claimed, called, outcome committed).
                let rows = try await client.query(PostgresQuery(unsafeSQL: """
                    SELECT cause_event_id::text, extract(epoch FROM created_at)::float8, extract(epoch FROM settled_at)::float8
                    FROM \(schema).deliveries WHERE settled_at IS NOT NULL
                    """), logger: logger).collect()
                let published = receiver.published
                var recorded = Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
                var settled = recorded
                for row in rows {
                    let (cause, created, done) = try row.decode((String, Double, Double).self)
                    guard let sent = published[cause] else { continue }
                    recorded.record(UInt64(max(0, (created - sent) * 1_000_000)))
                    settled.record(UInt64(max(0, (done - created) * 1_000_000)))
                }
                print(String(format: "  publish → intent recorded p50 %.1f ms, p99 %.1f ms; recorded → settled p50 %.1f ms, p99 %.1f ms",
                             Double(recorded.valueAtPercentile(50)) / 1000, Double(recorded.valueAtPercentile(99)) / 1000,
                             Double(settled.valueAtPercentile(50)) / 1000, Double(settled.valueAtPercentile(99)) / 1000))
                try await Migrator(client: client, logger: logger).drop(schema)
                tasks.cancelAll()
            }
            return result
        }
    }
}

/// The bench's webhook receiver: when each event was published and when its webhook arrived.
final class ArrivalRecorder: Sendable {
    private struct State {
        var sentAt: [String: ContinuousClock.Instant] = [:]
        /// Wall-clock publication times (seconds since 1970), to compare with the database's timestamps.
        var published: [String: Double] = [:]
        var latency = Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
        var count = 0
        var expected = 0
        var last: ContinuousClock.Instant?
    }
    private let state = Mutex(State())

    func reset(expecting count: Int) { state.withLock { $0 = State(); $0.expected = count } }
    func sent(_ id: UUID) {
        let key = id.uuidString.lowercased()
        let wall = Date().timeIntervalSince1970
        state.withLock {
            $0.sentAt[key] = .now
            $0.published[key] = wall
        }
    }

    var published: [String: Double] { state.withLock { $0.published } }

    func arrived(_ body: ByteBuffer) {
        let now = ContinuousClock.now
        guard let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
              let cause = object["causeEventId"] as? String else { return }
        state.withLock { state in
            guard let sent = state.sentAt.removeValue(forKey: cause) else { return }
            let elapsed = now - sent
            state.latency.record(UInt64(max(0, elapsed.microseconds)))
            state.count += 1
            state.last = now
        }
    }

    var count: Int { state.withLock { $0.count } }
    var latency: Histogram<UInt64> { state.withLock { $0.latency } }
    var lastArrival: ContinuousClock.Instant? { state.withLock { $0.last } }

    func waitForAll(timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if state.withLock({ $0.count >= $0.expected }) { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return false
    }
}
