import ArgumentParser
import AsyncHTTPClient
import ComplaintStore
import Foundation
import Histogram
import NIOCore
import Logging
import NIOHTTP1
import RdKafka

/// `redress loadgen`: `POST /v1/complaints` throughput and latency at each concurrency, against a
/// running intake (`redress up`, then `. .redress/up.env`). A benchmark, not a test: it prints
/// figures, and checks that every request registered a distinct complaint.
struct LoadgenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loadgen",
        abstract: "Measure POST /v1/complaints throughput and p50/p99 latency at given concurrencies."
    )

    @Option(help: "Intake base URL (default: $INTAKE_URL, else <data-dir>/up.env, else http://127.0.0.1:8081).")
    var url: String?

    @Option(help: "API key (default: $REDRESS_ADMIN_KEY, else <data-dir>/up.env); give it a high rate limit.")
    var key: String?

    @Option(name: .customLong("concurrency"), help: "Requests in flight at once; repeat for several runs (default: 1 and 16; with --rate one value, for the warm-up).")
    var givenConcurrencies: [Int] = []

    /// The runs' concurrencies: as given, else 1 and 16.
    var concurrencies: [Int] { givenConcurrencies.isEmpty ? [1, 16] : givenConcurrencies }

    @Option(help: "Measured requests per run.")
    var requests = 2000

    @Option(help: "Unmeasured requests before each run.")
    var warmup = 200

    @Option(name: .customLong("hotel"), help: "Hotel id of the generated complaints; repeat to spread them over several hotels in turn (the key must cover them). (default: SHA-PD01)")
    var hotels: [String] = []

    /// The hotels complaints go to, in turn.
    var hotelList: [String] { hotels.isEmpty ? ["SHA-PD01"] : hotels }

    @Flag(help: "Follow each complaint through the loop: from the POST until it is assigned with its SLA clock started (needs KAFKA_BROKERS).")
    var fullLoop = false

    @Option(help: "With --full-loop: post at this fixed rate (complaints per second) instead of as fast as --concurrency allows.")
    var rate: Double?

    @Option(help: "With --full-loop: Kafka bootstrap servers (default: $KAFKA_BROKERS, else <data-dir>/up.env).")
    var brokers: String?

    @Option(help: "With --full-loop: seconds each run waits for its complaints to come back assigned with the clock started.")
    var loopTimeout = 300

    @OptionGroup var dataDirectory: DataDirectoryOption

    func validate() throws {
        if let rate, !(rate > 0 && rate <= 100_000) { throw ValidationError("--rate is complaints per second, above 0") }
        // Options that only --full-loop reads would otherwise be ignored without a word.
        if !fullLoop {
            if rate != nil { throw ValidationError("--rate applies to --full-loop only") }
            if brokers != nil { throw ValidationError("--brokers applies to --full-loop only") }
        }
        if rate != nil && givenConcurrencies.count > 1 {
            throw ValidationError("with --rate there is one run: give at most one --concurrency (for the warm-up)")
        }
        guard (1...3600).contains(loopTimeout) else { throw ValidationError("--loop-timeout must be 1 to 3600 seconds") }
        guard requests > 0, warmup >= 0, concurrencies.allSatisfy({ (1...512).contains($0) }) else {
            throw ValidationError("--requests must be positive and each --concurrency between 1 and 512")
        }
    }

    func run() async throws {
        let dataDir = dataDirectory.dataDir
        let base = ProcessInfoEnvironment.setting(url, variable: "INTAKE_URL", dataDir: dataDir) ?? "http://127.0.0.1:8081"
        let key = try ProcessInfoEnvironment.setting(key, variable: "REDRESS_ADMIN_KEY", option: "--key", dataDir: dataDir, what: "API key")
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 512)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)

        do {
            if fullLoop {
                // --full-loop reads the topics.
                let brokerList = try ProcessInfoEnvironment.setting(
                    brokers, variable: "KAFKA_BROKERS", option: "--brokers", dataDir: dataDir, what: "Kafka for --full-loop")
                var logger = Logger(label: "redress.loadgen")
                logger.logLevel = .warning
                let load = FullLoopLoad(base: base, key: key, brokers: KafkaBootstrap.servers(from: brokerList), hotels: hotelList, logger: logger)
                // Each measured run starts on services that have caught up (with the warm-up, an earlier run).
                let catchUp = CatchUpWait(brokers: KafkaBootstrap.servers(from: brokerList), logger: logger)
                if warmup > 0 {
                    print("warm-up: \(warmup) complaints")
                    try await load.run(count: warmup, rate: nil, concurrency: concurrencies.last ?? 16, timeout: .seconds(120), client: client)
                }
                var sound = true
                for concurrency in rate == nil ? concurrencies : [concurrencies.last ?? 16] {
                    try await catchUp.run()
                    let run = try await load.run(count: requests, rate: rate, concurrency: concurrency, timeout: .seconds(loopTimeout), client: client)
                    sound = sound && run
                }
                if !sound {
                    // A complaint lost or handled twice is a bug to find, not a figure to quote.
                    print("loadgen: some complaints failed, never came back assigned with the clock started, or came back twice; the figures above are not a measurement")
                    throw ExitCode.failure
                }
            } else {
                try await measure(client: client, base: base, key: key)
            }
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    private func measure(client: HTTPClient, base: String, key: String) async throws {
        print("POST \(base)/v1/complaints — \(requests) requests per run after \(warmup) warm-up, 1 complaint each")
        // Rates and percentiles count accepted complaints only: 2,000 quick 401s are not throughput.
        print("concurrency  requests  seconds   req/s     p50 ms   p90 ms   p99 ms   max ms   errors  distinct ids")
        var failed = false
        for concurrency in concurrencies {
            _ = try await drive(client: client, base: base, key: key, count: warmup, concurrency: concurrency, tag: "warm")
            let result = try await drive(client: client, base: base, key: key, count: requests, concurrency: concurrency, tag: "run")
            let ms = { (value: UInt64) in String(format: "%8.2f", Double(value) / 1000) }
            let accepted = requests - result.errors
            print(String(format: "%11d  %8d  %7.2f  %8.0f", concurrency, requests, result.seconds, Double(accepted) / result.seconds)
                + " " + ms(result.histogram.valueAtPercentile(50)) + " " + ms(result.histogram.valueAtPercentile(90))
                + " " + ms(result.histogram.valueAtPercentile(99)) + " " + ms(result.histogram.maxRecorded)
                + String(format: "  %6d  %12d", result.errors, result.distinctIDs))
            if result.errors > 0 { print("  first error: \(result.firstError ?? "")") }
            if result.errors > 0 || result.distinctIDs < accepted { failed = true }
        }
        if failed {
            // A run with refusals or repeated ids measured something else: scripts must not take it for a figure.
            print("loadgen: some requests failed or were answered with an id already given; the figures above are not a measurement")
            throw ExitCode.failure
        }
    }

    struct RunResult {
        var seconds: Double
        var histogram: Histogram<UInt64>
        var errors: Int
        var distinctIDs: Int
        var firstError: String?
    }

    private func drive(client: HTTPClient, base: String, key: String, count: Int, concurrency: Int, tag: String) async throws -> RunResult {
        let run = UUID().uuidString.prefix(8).lowercased()
        let hotels = hotelList
        let started = ContinuousClock.now
        var histogram = Histogram<UInt64>(highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: .three)
        var ids = Set<String>()
        var errors = 0
        var firstError: String?
        try await withThrowingTaskGroup(of: (UInt64, String?, String?).self) { group in
            var next = 0
            func submit(_ index: Int) {
                group.addTask {
                    var request = HTTPClientRequest(url: base + "/v1/complaints")
                    request.method = .POST
                    request.headers.add(name: "Authorization", value: "Bearer \(key)")
                    request.headers.add(name: "Content-Type", value: "application/json")
                    request.body = .bytes(ByteBuffer(string: Self.body(hotel: hotels[index % hotels.count], externalID: "load-\(tag)-\(run)-\(index)", index: index)))
                    let begin = ContinuousClock.now
                    do {
                        let response = try await client.execute(request, timeout: .seconds(30))
                        let body = String(buffer: try await response.body.collect(upTo: 64 * 1024))
                        let elapsed = ContinuousClock.now - begin
                        let micros = UInt64(max(0, elapsed.microseconds))
                        guard response.status == .created else { return (micros, nil, "HTTP \(response.status.code): \(body)") }
                        let id = (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["id"] as? String
                        return (micros, id, nil)
                    } catch {
                        return (0, nil, "\(error)")
                    }
                }
            }
            while next < min(concurrency, count) {
                submit(next)
                next += 1
            }
            while let (micros, id, error) = try await group.next() {
                if let error {
                    errors += 1
                    if firstError == nil { firstError = error }
                } else {
                    histogram.record(micros)
                    if let id { ids.insert(id) }
                }
                if next < count {
                    submit(next)
                    next += 1
                }
            }
        }
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return RunResult(seconds: seconds, histogram: histogram, errors: errors, distinctIDs: ids.count, firstError: firstError)
    }

    private static let texts = [
        "1208房间的空调不制冷，房间里非常闷热，孩子睡不着。",
        "The shower in my room has no hot water since this morning.",
        "隔壁房间太吵了，凌晨一点还在大声说话。",
        "I was charged twice for breakfast on my bill, please fix it.",
    ]

    /// When the generated complaints were reported: this run's start, so that the notifier treats them as
    /// fresh (it sends no guest message about a complaint older than its rules' `guestMessages.maximumAge`).
    static let reportedAt = ISO8601DateFormatter().string(from: Date())

    static func body(hotel: String, externalID: String, index: Int) -> String {
        """
        {"hotelId":"\(hotel)","source":"loadgen","externalId":"\(externalID)","channel":"app",\
        "reportedAt":"\(reportedAt)","text":"\(texts[index % texts.count])","language":"\(index % 2 == 0 ? "zh-CN" : "en")",\
        "guest":{"name":"Guest \(index % 997)","roomNumber":"\(1000 + index % 900)","loyaltyId":"GC-\(100000 + index % 5000)",\
        "vip":\(index % 20 == 0),"preferredLanguage":"zh-CN"},"reporter":{"kind":"guest"}}
        """
    }
}
