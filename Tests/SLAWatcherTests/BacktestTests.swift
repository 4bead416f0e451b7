import ComplaintEvents
import HotelTime
import ComplaintTesting
import RdKafka
import RdKafkaTestKit
import Foundation
import SLAWatcher
import Testing

/// `redress sla backtest`: recorded complaints judged against a candidate policy beside the one in force.
@Suite("SLA backtest")
struct BacktestTests {
    static func policies(_ yaml: String) throws -> SLAPolicies {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("backtest-\(UUID().uuidString.prefix(8)).yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try PolicyFile.load(contentsOf: path)
    }

    static let inForce = """
        timeZones: {SHA-PD01: Asia/Shanghai}
        policies:
          - {name: defaults, warning: 80%, followUp: 24h, ceiling: 72h}
          - {name: serious, severity: serious, response: 5m, resolve: 1h}
          - {name: moderate, severity: moderate, response: 15m, resolve: 4h}
          - {name: minor, severity: minor, response: 30m, resolve: 24h}
        """
    static let candidate = """
        timeZones: {SHA-PD01: Asia/Shanghai}
        policies:
          - {name: defaults, warning: 80%, followUp: 24h, ceiling: 72h}
          - {name: serious, severity: serious, response: 3m, resolve: 30m}
          - {name: moderate, severity: moderate, response: 15m, resolve: 4h}
          - {name: minor, severity: minor, response: 30m, resolve: 24h}
        """

    static let t0 = Date(timeIntervalSince1970: 1_780_000_000)
    static func at(_ minutes: Double) -> Date { t0.addingTimeInterval(minutes * 60) }

    /// A serious complaint registered at t0 with the given history (minutes after registration).
    static func complaint(
        severity: Severity? = .serious, acknowledged: Double? = nil, resolutions: [(Double, Double?)] = [], pauses: [(Double, Double?)] = []
    ) -> RecordedComplaint {
        var complaint = RecordedComplaint(id: UUID(), hotelID: "SHA-PD01")
        complaint.category = .noise
        complaint.severity = severity
        complaint.registeredAt = t0
        complaint.acknowledgedAt = acknowledged.map(at)
        complaint.resolvePeriods = resolutions.isEmpty
            ? [.init(start: t0, end: nil)] : resolutions.map { .init(start: at($0.0), end: $0.1.map(at)) }
        complaint.pauses = pauses.map { ClockPause(start: at($0.0), end: $0.1.map(at)) }
        return complaint
    }

    @Test("each complaint under both policies", arguments: [
        // acknowledged at 4 min, resolved at 40: in time under 5m/1h, late under 3m/30m.
        (complaint(acknowledged: 4, resolutions: [(0, 40)]), SLABacktest.Outcome(response: .met, resolve: .met), SLABacktest.Outcome(response: .breached, resolve: .breached)),
        (complaint(acknowledged: 2, resolutions: [(0, 20)]), .init(response: .met, resolve: .met), .init(response: .met, resolve: .met)),
        // Nobody acknowledged; 10 minutes later the response is late either way, the resolve clock still runs.
        (complaint(), .init(response: .breached, resolve: .open), .init(response: .breached, resolve: .open)),
        // Waiting for the guest from 10 to 50 min stops the clock: 20 minutes of the resolve budget used.
        (complaint(acknowledged: 1, resolutions: [(0, 60)], pauses: [(10, 50)]), .init(response: .met, resolve: .met), .init(response: .met, resolve: .met)),
        // Reopened at 100 and resolved again at 150: the second resolve clock ran 50 minutes.
        (complaint(acknowledged: 1, resolutions: [(0, 20), (100, 150)]), .init(response: .met, resolve: .met), .init(response: .met, resolve: .breached)),
        // A resolution before any acknowledgement stops the response clock too.
        (complaint(resolutions: [(0, 4)]), .init(response: .met, resolve: .met), .init(response: .breached, resolve: .met)),
    ])
    func outcomes(complaint: RecordedComplaint, inForce: SLABacktest.Outcome, candidate: SLABacktest.Outcome) throws {
        let asOf = Self.at(10)
        #expect(SLABacktest.outcome(of: complaint, under: try Self.policies(Self.inForce), asOf: asOf) == inForce)
        #expect(SLABacktest.outcome(of: complaint, under: try Self.policies(Self.candidate), asOf: asOf) == candidate)
    }

    @Test("the report counts breaches per hotel, category and severity, and says what it could not judge")
    func report() throws {
        let backtest = SLABacktest(inForce: try Self.policies(Self.inForce), candidate: try Self.policies(Self.candidate), asOf: Self.at(600))
        let complaints = [
            Self.complaint(acknowledged: 4, resolutions: [(0, 40)]),
            Self.complaint(acknowledged: 2, resolutions: [(0, 20)]),
            Self.complaint(severity: .moderate, acknowledged: 10, resolutions: [(0, 100)]),
            Self.complaint(severity: nil),
        ]
        let report = backtest.run(complaints)
        let all = try #require(report.rows["all"])
        #expect(all.complaints == 3 && report.unjudged == 1)
        #expect(all.responseBreachedInForce == 0 && all.responseBreachedCandidate == 1)
        #expect(all.resolveBreachedInForce == 0 && all.resolveBreachedCandidate == 1)
        #expect(report.rows["severity serious"]?.complaints == 2 && report.rows["severity moderate"]?.responseBreachedCandidate == 0)
        #expect(report.rows["hotel SHA-PD01"]?.complaints == 3 && report.rows["category noise"]?.complaints == 3)
        #expect(report.table.contains("severity serious") && report.table.contains("1 complaints not judged"))
    }

    @Test("staff actions read before their complaint's verdict still count, in the order they happened")
    func actionsBeforeVerdict() throws {
        func bytes(_ name: String) throws -> [UInt8] {
            Array(try Data(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("schemas/examples/\(name)")))
        }
        var history = RecordedHistory()
        // Resolved and acknowledged arrive first (another topic, read ahead), the verdict last.
        history.add(try Topics.updated.decode(bytes("complaint-updated.v1.resolved.en.json")))
        history.add(try Topics.updated.decode(bytes("complaint-updated.v1.acknowledged.en.json")))
        history.add(try Topics.assigned.decode(bytes("complaint-assigned.v1.en.json")))
        history.add(try Topics.classified.decode(bytes("complaint-classified.v1.en.json")))
        let all = history.complaints(registeredIn: Date.distantPast..<Date.distantFuture)
        let complaint = try #require(all.first)
        #expect(all.count == 1 && complaint.acknowledgedAt != nil)
        #expect(complaint.resolvePeriods.count == 1 && complaint.resolvePeriods[0].end != nil, "the resolution is not lost")
        #expect(history.complaints(registeredIn: Date.distantPast..<Date(timeIntervalSince1970: 0)).isEmpty)
    }

    @Test("a demo speed divides every duration (at least a second) and runs every department on 24x7")
    func timeScale() throws {
        var policies = try Self.policies(Self.inForce.replacingOccurrences(
            of: "policies:", with: "calendars: {office: {hours: {mon: [\"09:00-18:00\"]}}}\ndepartmentCalendars: {finance: office}\npolicies:"))
        #expect(policies.calendar(forDepartment: "finance").name == "office")
        policies.timeScale = 60
        let serious = try #require(policies.policy(hotel: "SHA-PD01", category: .noise, severity: .serious))
        #expect(serious.response.seconds == 5 && serious.resolve.seconds == 60)
        #expect(serious.ceiling.seconds == 72 * 60 && serious.followUp.seconds == 24 * 60)
        #expect(serious.escalation.allSatisfy { $0.after.seconds == 0 } || serious.escalation.contains { $0.after.seconds > 0 && $0.after.seconds < 3600 })
        #expect(policies.calendar(forDepartment: "finance").name == "24x7")
        policies.timeScale = 100_000
        #expect(try #require(policies.policy(hotel: "SHA-PD01", category: .noise, severity: .serious)).response.seconds == 1)
    }

    @Test("the recorded history is folded from the events as the watcher reads them")
    func folding() throws {
        let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("schemas/examples")
        func bytes(_ name: String) throws -> [UInt8] { Array(try Data(contentsOf: examples.appendingPathComponent(name))) }
        let classified = try Topics.classified.decode(bytes("complaint-classified.v1.en.json"))
        let assigned = try Topics.assigned.decode(bytes("complaint-assigned.v1.en.json"))
        var complaint = RecordedComplaint(id: classified.data.complaintID, hotelID: classified.hotelID)
        complaint.record(assigned.data)
        complaint.record(classified.data)
        for name in ["complaint-updated.v1.acknowledged.en.json", "complaint-updated.v1.waiting-for-guest.en.json", "complaint-updated.v1.resolved.en.json",
                     "complaint-updated.v1.reopened.en.json"] {
            complaint.record(try Topics.updated.decode(bytes(name)).data)
        }
        #expect(complaint.category == .noise && complaint.severity == .serious && complaint.department == "security")
        #expect(complaint.registeredAt == classified.data.registeredAt && complaint.acknowledgedAt != nil)
        #expect(complaint.pauses.count == 1 && complaint.pauses[0].end != nil, "resolving ends the pause")
        #expect(complaint.resolvePeriods.count == 2 && complaint.resolvePeriods[0].end != nil && complaint.resolvePeriods[1].end == nil)
    }
}

/// `redress sla backtest` as an operator runs it: the history read from real topics (the embedded
/// cluster, or the Kafka of `KAFKA_BROKERS`), the shipped policy in force, a stricter candidate.
@Suite("redress sla backtest", .enabled(if: RedressExecutable.url != nil, "redress executable not built"), .timeLimit(.minutes(2)))
struct BacktestCommandTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("the recorded stories judged by the shipped policy and by a stricter candidate")
    func backtest() async throws {
        let kafka = try KafkaTestEnvironment()
        let prefix = "bt-\(UUID().uuidString.prefix(8).lowercased())."
        for topic in [Topics.classified.name, Topics.assigned.name, Topics.updated.name] { try await kafka.createTopic(prefix + topic, partitions: 2) }
        // The English and the Chinese example stories: classified, assigned, acknowledged, resolved.
        let producer = try KafkaProducer(configuration: kafka.producerConfiguration(), logger: kafka.logger)
        try await withRunningServices([producer]) {
            for language in ["en", "zh"] {
                for (file, topic) in [("complaint-classified.v1", Topics.classified.name), ("complaint-assigned.v1", Topics.assigned.name),
                                      ("complaint-updated.v1.acknowledged", Topics.updated.name), ("complaint-updated.v1.resolved", Topics.updated.name)] {
                    let value = Array(try Data(contentsOf: Self.root.appendingPathComponent("schemas/examples/\(file).\(language).json")))
                    _ = try await producer.sendAndAwait(KafkaProducerMessage(topic: prefix + topic, key: Array(language.utf8), value: value))
                }
            }
        }
        // The candidate: serious complaints acknowledged in 2 minutes and resolved in 30.
        let shipped = try String(contentsOf: Self.root.appendingPathComponent("services/sla-watcher/policies.yaml"), encoding: .utf8)
        let stricter = shipped.replacingOccurrences(
            of: "{name: serious, severity: serious, response: 5m, resolve: 1h}", with: "{name: serious, severity: serious, response: 2m, resolve: 30m}")
        #expect(stricter != shipped)
        let candidate = FileManager.default.temporaryDirectory.appendingPathComponent("candidate-\(UUID().uuidString.prefix(8)).yaml")
        try stricter.write(to: candidate, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: candidate) }

        // The prefix as an option, and as the shell's KAFKA_TOPIC_PREFIX (a staging shell) like tail and topics.
        for (option, environment) in [(["--topic-prefix", prefix], [String: String]()), ([], ["KAFKA_TOPIC_PREFIX": prefix])] {
        let process = try await ChildProcess(RedressExecutable.url!, arguments: [
            "sla", "backtest", "--policy", candidate.path, "--in-force", Self.root.appendingPathComponent("services/sla-watcher/policies.yaml").path,
            "--from", "2025-01-01T00:00:00Z", "--to", "2026-01-01T00:00:00Z", "--brokers", kafka.bootstrapServers.joined(separator: ","),
            "--json",
        ] + option, environment: environment)
        defer { process.stop() }
        _ = await eventually(timeout: .seconds(60)) { !process.isRunning }
        #expect(process.terminationStatus == 0, "\(process.output)")
        let json = process.output.drop { $0 != "{" }
        let report = try JSONDecoder().decode(BacktestReport.self, from: Data(json.utf8))
        // London's serious noise complaint: acknowledged after 2.5 minutes, resolved after 39 — in time
        // under 5m/1h, late under 2m/30m.
        let london = try #require(report.rows["hotel LON-KX02"], "\(process.output)")
        #expect(london.complaints == 1)
        #expect(london.responseBreachedInForce == 0 && london.responseBreachedCandidate == 1)
        #expect(london.resolveBreachedInForce == 0 && london.resolveBreachedCandidate == 1)
        #expect(report.rows["all"]?.complaints == 2 && report.unjudged == 0)
        }
    }
}
