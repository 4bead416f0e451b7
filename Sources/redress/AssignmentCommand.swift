import ArgumentParser
import Assignment
import AsyncHTTPClient
import ComplaintEvents
import ComplaintStore
import Foundation
import HotelTime
import Histogram
import Logging
import NIOCore
import NIOHTTP1
import RdKafka
import ServiceLifecycle

/// `redress assignment …`: tools for the assignment service.
struct AssignmentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "assignment",
        abstract: "Benchmark the assignment service.",
        subcommands: [Bench.self]
    )

    /// `redress assignment bench`: assignments per second of the running stage end to end (classified
    /// published → assigned consumed) with 10 hotels of 50 staff each, the latency of each, the stage's
    /// own handling time (from its `/metrics`) and the pure decision time. A benchmark: it prints figures.
    struct Bench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure assignments per second end to end and the decision time per complaint (against `redress up`).")

        @Option(help: "Assignment base URL (default: $ASSIGNMENT_URL, else <data-dir>/up.env, else http://127.0.0.1:8083).")
        var url: String?

        @Option(help: "API key (default: $REDRESS_ADMIN_KEY, else <data-dir>/up.env).")
        var key: String?

        @OptionGroup var kafka: KafkaOptions

        @Option(help: "Classified complaints to publish.")
        var complaints = 5000

        @Option(help: "Hotels to create (BENCH-H01 …).")
        var hotels = 10

        @Option(help: "Staff per hotel.")
        var staff = 50

        func run() async throws {
            let dataDir = kafka.dataDirectory.dataDir
            let base = ProcessInfoEnvironment.setting(url, variable: "ASSIGNMENT_URL", dataDir: dataDir) ?? "http://127.0.0.1:8083"
            let key = try ProcessInfoEnvironment.setting(key, variable: "REDRESS_ADMIN_KEY", option: "--key", dataDir: dataDir, what: "API key")
            let brokers = try kafka.servers()
            var logger = Logger(label: "redress.assignment-bench")
            logger.logLevel = .warning
            let organisation = (1...hotels).map { Self.hotel(String(format: "BENCH-H%02d", $0), staff: staff) }

            print("decision (in process, one hotel of \(staff) staff): \(Self.decisionTime(organisation[0]))")
            try await Self.load(organisation, base: base, key: key)
            print("organisation: \(hotels) hotels × \(staff) staff created through \(base)/v1/hotels")
            let before = try await Self.handlingTime(base: base)
            let result = try await Self.measure(
                complaints: complaints, hotels: organisation.map(\.id), brokers: brokers, logger: logger)
            let after = try await Self.handlingTime(base: base)
            let ms = { (value: UInt64) in String(format: "%.1f", Double(value) / 1000) }
            print(String(format: "end to end: %d complaints in %.2f s = %.0f assignments/s", complaints, result.seconds, Double(complaints) / result.seconds))
            print("  latency classified published → assigned consumed: p50 \(ms(result.latency.valueAtPercentile(50))) ms, "
                + "p90 \(ms(result.latency.valueAtPercentile(90))) ms, p99 \(ms(result.latency.valueAtPercentile(99))) ms, "
                + "max \(ms(result.latency.maxRecorded)) ms")
            print("  strategies: \(result.strategies.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))")
            if let before, let after, after.count > before.count {
                let mean = (after.sum - before.sum) / Double(after.count - before.count) * 1000
                print(String(format: "  stage handling per classified event (transaction incl. decision, from /metrics): mean %.2f ms", mean))
            }
        }

        /// A hotel of `staff` people on shift around the clock: the default departments, a duty manager
        /// per eight hours' worth of staff, a general manager, agents and supervisors spread over departments.
        static func hotel(_ id: String, staff count: Int) -> HotelOrganisation {
            let always = [Shift(days: Weekday.allCases, start: LocalTime(hour: 0, minute: 0), end: LocalTime(hour: 24, minute: 0))]
            let departments = DefaultRouting.departments.map { Department(code: $0.code, name: $0.name, categories: $0.categories) }
            var staff = [
                StaffMember(id: "\(id)-GM", name: "General Manager", role: .generalManager, departments: [], capacity: 1000, shifts: always),
                StaffMember(id: "\(id)-DM", name: "Duty Manager", role: .dutyManager, departments: [], capacity: 1000, shifts: always),
            ]
            let languages = [["zh-CN", "en"], ["en"], ["zh-CN"], ["en", "fr"]]
            for index in 0..<max(0, count - staff.count) {
                let department = departments[index % departments.count]
                staff.append(StaffMember(
                    id: "\(id)-\(department.code)-\(index)", name: "Staff \(index)", role: index < departments.count * 2 && index % 2 == 1 ? .supervisor : .agent,
                    departments: [department.code], languages: languages[index % languages.count], skills: [department.categories[0].rawValue],
                    capacity: 1000, shifts: always))
            }
            return HotelOrganisation(id: id, name: id, timeZone: "UTC", departments: departments, staff: staff)
        }

        static func decisionTime(_ hotel: HotelOrganisation) -> String {
            let planner = AssignmentPlanner()
            let categories = ComplaintCategory.allCases
            var loads: [String: Int] = [:]
            for (index, member) in hotel.staff.enumerated() { loads[member.id] = index % 7 }
            let now = Date()
            let rounds = 20_000
            let clock = ContinuousClock()
            var chosen = 0
            let elapsed = clock.measure {
                for index in 0..<rounds {
                    let facts = ComplaintFacts(
                        complaintID: UUID(), hotelID: hotel.id, category: categories[index % categories.count],
                        severity: index % 10 == 0 ? .serious : .moderate, priority: 2, language: index % 2 == 0 ? "zh-CN" : "en",
                        isVIP: index % 20 == 0, involvesSafety: false, registeredAt: now)
                    if planner.assign(facts, in: hotel, loads: loads, now: now) != nil { chosen += 1 }
                }
            }
            let micros = (Double(elapsed.components.seconds) * 1e6 + Double(elapsed.components.attoseconds) / 1e12) / Double(rounds)
            return String(format: "%.1f µs per complaint over %d (%d assigned)", micros, rounds, chosen)
        }

        /// Creates or replaces the hotels through the API (as an operator would).
        static func load(_ hotels: [HotelOrganisation], base: String, key: String) async throws {
            func send(_ method: HTTPMethod, _ path: String, _ body: some Encodable) async throws {
                var request = HTTPClientRequest(url: base + path)
                request.method = method
                request.headers.add(name: "Authorization", value: "Bearer \(key)")
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(bytes: try EventCoding.write(body)))
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
                let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
                guard (200..<300).contains(response.status.code) else {
                    throw CommandFailure("\(method) \(path) answered \(response.status.code): \(text)")
                }
            }
            struct Settings: Encodable { var name: String; var timeZone: String; var strategy: String }
            for hotel in hotels {
                try await send(.PUT, "/v1/hotels/\(hotel.id)", Settings(name: hotel.name, timeZone: hotel.timeZone, strategy: hotel.strategy))
                for department in hotel.departments { try await send(.POST, "/v1/hotels/\(hotel.id)/departments", department) }
                for member in hotel.staff { try await send(.POST, "/v1/hotels/\(hotel.id)/staff", member) }
            }
        }

        struct Result {
            var seconds: Double
            var latency: Histogram<UInt64>
            var strategies: [String: Int]
        }

        /// Publishes the classifications and consumes the assignments until every one arrived.
        static func measure(complaints: Int, hotels: [String], brokers: [String], logger: Logger) async throws -> Result {
            let producer = try KafkaProducer(
                configuration: KafkaProducerConfiguration(bootstrapServers: brokers, clientID: "assignment-bench"), logger: logger)
            var consumerConfiguration = KafkaConsumerConfiguration(
                bootstrapServers: brokers, groupID: "assignment-bench-\(UUID().uuidString.prefix(8))", topics: [Topics.assigned.name])
            consumerConfiguration.autoOffsetReset = .latest
            consumerConfiguration.additionalProperties = ["fetch.wait.max.ms": "10"]
            let consumer = try KafkaConsumer(configuration: consumerConfiguration, logger: logger)
            let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [producer, consumer], gracefulShutdownSignals: [], logger: logger))
            return try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                defer { Task { await group.triggerGracefulShutdown() } }
                // Listen before publishing: the group must own the partitions first.
                try await waitForPartitions(consumer, brokers: brokers)
                try await Task.sleep(for: .milliseconds(500))

                let categories = ComplaintCategory.allCases
                var sentAt: [UUID: ContinuousClock.Instant] = [:]
                let start = ContinuousClock.now
                for index in 0..<complaints {
                    let id = UUID()
                    let classified = ComplaintClassified(
                        complaintID: id, classifiedAt: Date(), category: categories[index % categories.count],
                        severity: index % 10 == 0 ? .serious : (index % 3 == 0 ? .minor : .moderate), priority: 2,
                        language: index % 2 == 0 ? "zh-CN" : "en", sentiment: -0.5,
                        flags: ClassificationFlags(isVIP: index % 20 == 0, isRepeat: false, involvesSafety: false, threatensReview: false, needsHumanReview: false),
                        confidence: 0.9,
                        explanation: ClassificationExplanation(classifier: "bench", version: "1", matchedRules: [], matchedTerms: [], summary: nil),
                        registeredAt: Date())
                    let event = EventEnvelope(source: "/redress/assignment-bench", time: Date(), hotelID: hotels[index % hotels.count], data: classified)
                    sentAt[id] = ContinuousClock.now
                    try producer.send(KafkaProducerMessage(
                        topic: Topics.classified.name, key: Topics.classified.key(for: event).map { ByteBuffer(bytes: $0) },
                        value: ByteBuffer(bytes: try Topics.classified.encode(event))))
                }
                var latency = Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
                var strategies: [String: Int] = [:]
                var received = 0
                var last = start
                outer: for try await batch in consumer.batches() {
                    let now = ContinuousClock.now
                    for message in batch {
                        guard let event = try? Topics.assigned.decode(Array(message.value.readableBytesView)),
                              let sent = sentAt.removeValue(forKey: event.data.complaintID) else { continue }
                        let elapsed = now - sent
                        latency.record(UInt64(max(0, elapsed.microseconds)))
                        strategies[event.data.strategy, default: 0] += 1
                        received += 1
                        last = now
                        if received == complaints { break outer }
                    }
                }
                let elapsed = last - start
                return Result(
                    seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18, latency: latency,
                    strategies: strategies)
            }
        }

        /// The stage's cumulative handling time of classified events, from its Prometheus exposition.
        static func handlingTime(base: String) async throws -> (sum: Double, count: Int)? {
            let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: base + "/metrics"), timeout: .seconds(10))
            let text = String(buffer: try await response.body.collect(upTo: 8 << 20))
            var sum: Double?
            var count: Int?
            for line in text.split(separator: "\n") where line.hasPrefix("pipeline_handle_duration_seconds") && line.contains(Topics.classified.name) {
                let value = line.split(separator: " ").last.map(String.init) ?? ""
                if line.hasPrefix("pipeline_handle_duration_seconds_sum") { sum = Double(value) }
                if line.hasPrefix("pipeline_handle_duration_seconds_count") { count = Int(value) }
            }
            guard let sum, let count else { return nil }
            return (sum, count)
        }
    }
}
