import Access
import ComplaintEvents
import ComplaintMetrics
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import HotelTime
import Logging
import NIOCore
import NIOHTTP1
import PostgresNIO
import RdKafka
import RdKafkaTestKit

/// The metrics stage on the embedded cluster and the shared PostgreSQL, under a schema and topics of its
/// own, with an admin key and helpers to publish complaint stories and read the API.
struct MetricsHarness: Sendable {
    static let shanghai = MetricsSettings.Hotel(
        id: "SHA-PD01", name: "瑞德斯上海浦东酒店", timeZone: TimeZone(identifier: "Asia/Shanghai")!, language: "zh-CN", rooms: 320,
        monthlyBudget: ["CNY": 5_000_000])
    static let london = MetricsSettings.Hotel(
        id: "LON-KX02", name: "Redress London King's Cross", timeZone: TimeZone(identifier: "Europe/London")!, rooms: 180,
        monthlyBudget: ["GBP": 400_000])

    static var settings: MetricsSettings { MetricsSettings(hotels: [shanghai, london]) }

    let base: String
    let client: PostgresClient
    let schema: SchemaName
    let topics: MetricsService.Topics
    let kafka: KafkaTestEnvironment
    let keys: APIKeyStore
    let admin: String
    /// Where the stage dead-letters what it cannot place.
    let deadLetters: String

    static func run(
        settings: MetricsSettings = MetricsHarness.settings, parts: MetricsService.Parts = MetricsHarness.quietParts(),
        topics givenTopics: MetricsService.Topics? = nil, kafka givenKafka: KafkaTestEnvironment? = nil,
        _ body: @Sendable (MetricsHarness) async throws -> Void
    ) async throws {
        let kafka = try givenKafka ?? KafkaTestEnvironment()
        let topics: MetricsService.Topics
        if let givenTopics { topics = givenTopics } else { topics = try await makeTopics(kafka) }
        let database = try await TestDatabase.shared.configuration()
        let service = RedressService.metrics.isolated()
        let schema = service.schema
        let serviceSettings = ServiceSettings.forTests(kafkaBrokers: kafka.bootstrapServers, databaseURL: database.url)
        var runtime = MetricsService.makeRuntime(
            service: service, settings: serviceSettings, settings: LiveConfiguration(name: "metrics", fixed: settings), topics: topics,
            parts: parts, logger: .complaintTest)
        let deadLetters = try await kafka.makeTopic(prefix: "deadletter", partitions: 1)
        runtime.deadLetterTopic = deadLetters
        try await withIsolatedStage(runtime) { base, client in
            let (keys, admin) = try await APIKeyStore.forTests(client: client)
            try await body(MetricsHarness(
                base: base, client: client, schema: schema, topics: topics, kafka: kafka, keys: keys, admin: admin, deadLetters: deadLetters))
        }
    }

    /// The stage without the periodic parts (tests call them directly).
    static func quietParts() -> MetricsService.Parts {
        var parts = MetricsService.Parts()
        parts.earlyWarning = false
        parts.gauges = nil
        return parts
    }

    static func makeTopics(_ kafka: KafkaTestEnvironment) async throws -> MetricsService.Topics {
        var topics = MetricsService.Topics()
        topics.received = topics.received.renamed(try await kafka.makeTopic(prefix: "received", partitions: 2))
        topics.classified = topics.classified.renamed(try await kafka.makeTopic(prefix: "classified", partitions: 2))
        topics.assigned = topics.assigned.renamed(try await kafka.makeTopic(prefix: "assigned", partitions: 2))
        topics.updated = topics.updated.renamed(try await kafka.makeTopic(prefix: "updated", partitions: 2))
        topics.sla = topics.sla.renamed(try await kafka.makeTopic(prefix: "sla", partitions: 2))
        topics.notifications = topics.notifications.renamed(try await kafka.makeTopic(prefix: "notifications", partitions: 2))
        topics.alerts = topics.alerts.renamed(try await kafka.makeTopic(prefix: "alerts", partitions: 1))
        return topics
    }

    /// A new key of `role` for `hotels`.
    func key(_ role: AccessRole, hotels: [String]) async throws -> String {
        try await keys.create(
            name: "\(role.rawValue)-\(UUID().uuidString.prefix(6).lowercased())", role: role, hotels: hotels, client: client,
            logger: .complaintTest
        ).key.description
    }

    func get(_ path: String, key: String? = nil) async throws -> HTTPReply {
        try await plainRequest(.GET, base + path, key: key ?? admin)
    }

    /// `/v1/kpis` decoded.
    func kpis(_ query: String, key: String? = nil) async throws -> KPIReport {
        let reply = try await get("/v1/kpis?" + query, key: key)
        guard reply.status == 200 else { throw HarnessError(description: "kpis \(query): \(reply.status) \(reply.body)") }
        return try JSONDecoder().decode(KPIReport.self, from: Data(reply.body.utf8))
    }

    /// Publishes every event of `stories` on its topic, keyed by complaint.
    func publish(_ stories: [ComplaintStory]) async throws {
        let producer = try KafkaProducer(configuration: kafka.producerConfiguration(), logger: kafka.logger)
        try await withRunningServices([producer]) {
            for story in stories {
                try await send(story.received, on: topics.received, producer)
                try await send(story.classified, on: topics.classified, producer)
                try await send(story.assigned, on: topics.assigned, producer)
                try await send(story.updated, on: topics.updated, producer)
                try await send(story.sla, on: topics.sla, producer)
            }
        }
    }

    func send<Payload>(_ events: [EventEnvelope<Payload>], on topic: Topic<Payload>, _ producer: KafkaProducer) async throws {
        for event in events {
            _ = try await producer.sendAndAwait(KafkaProducerMessage(
                topic: topic.name, key: topic.key(for: event).map { ByteBuffer(bytes: $0) }, value: ByteBuffer(bytes: try topic.encode(event))))
        }
    }

    /// Events the stage has applied (its inbox).
    func applied() async throws -> Int {
        let rows = try await client.query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(schema.rawValue).processed_events"), logger: .complaintTest)
        return try await rows.collect().first?.decode(Int.self) ?? 0
    }

    /// Waits until the stage applied `count` distinct events.
    func waitForApplied(_ count: Int) async throws {
        let done = try await eventually { try await applied() >= count }
        if !done { throw HarnessError(description: "applied \(try await applied()) of \(count) events") }
    }
}

struct HarnessError: Error, CustomStringConvertible {
    var description: String
}

/// One complaint's life as events, built step by step with times relative to its registration.
struct ComplaintStory: Sendable {
    let id = UUID()
    let hotel: String
    let registeredAt: Date
    var received: [EventEnvelope<ComplaintReceived>] = []
    var classified: [EventEnvelope<ComplaintClassified>] = []
    var assigned: [EventEnvelope<ComplaintAssigned>] = []
    var updated: [EventEnvelope<ComplaintUpdated>] = []
    var sla: [EventEnvelope<ComplaintSLAEvent>] = []
    var severity: Severity

    init(
        hotel: String, registeredAt: Date, category: ComplaintCategory = .maintenance, severity: Severity = .moderate,
        channel: ComplaintChannel = .frontDesk, guestKey: String? = nil, department: String = "engineering"
    ) throws {
        self.hotel = hotel
        self.registeredAt = registeredAt
        self.severity = severity
        var received = try EventFixtures.received(complaintID: id)
        received.hotelID = hotel
        received.data.hotelID = hotel
        received.data.registeredAt = registeredAt
        received.data.reportedAt = registeredAt
        received.data.occurredAt = nil
        received.data.channel = channel
        received.data.guest.guestKey = guestKey
        received.time = registeredAt
        self.received = [received]
        var classified = try EventFixtures.classified(complaintID: id)
        classified.hotelID = hotel
        classified.data.category = category
        classified.data.severity = severity
        classified.data.registeredAt = registeredAt
        classified.data.classifiedAt = registeredAt.addingTimeInterval(1)
        self.classified = [classified]
        var assigned = try EventFixtures.assigned(complaintID: id)
        assigned.hotelID = hotel
        assigned.data.category = category
        assigned.data.severity = severity
        assigned.data.registeredAt = registeredAt
        assigned.data.assignedAt = registeredAt.addingTimeInterval(2)
        assigned.data.department = department
        assigned.data.escalationLevel = 0
        assigned.data.reason = .initial
        self.assigned = [assigned]
    }

    mutating func act(_ change: ComplaintUpdated.Change, after seconds: TimeInterval, status: ComplaintStatus) {
        let at = registeredAt.addingTimeInterval(seconds)
        updated.append(EventEnvelope(
            source: "/redress/intake", time: at, hotelID: hotel,
            data: ComplaintUpdated(complaintID: id, change: change, occurredAt: at, actor: EventActor(id: "staff-1", role: .staff), statusAfter: status)))
    }

    mutating func acknowledge(after seconds: TimeInterval) { act(.acknowledged, after: seconds, status: .acknowledged) }

    mutating func resolve(after seconds: TimeInterval, firstContact: Bool, rootCause: String) {
        act(.resolved(Resolution(text: "fixed", rootCause: rootCause, isFirstContact: firstContact)), after: seconds, status: .resolved)
    }

    mutating func followUp(after seconds: TimeInterval, satisfaction: Int, nps: Int) {
        act(.followUpRecorded(FollowUp(satisfaction: satisfaction, nps: nps)), after: seconds, status: .resolved)
    }

    mutating func compensate(after seconds: TimeInterval, _ amount: Int64, _ currency: String, approved: Bool = true) {
        let compensation = Compensation(id: UUID(), kind: .refund, amountMinor: amount, currency: currency, reason: "goodwill")
        act(.compensationRequested(compensation), after: seconds, status: .acknowledged)
        if approved { act(.compensationApproved(compensation), after: seconds + 1, status: .acknowledged) }
    }

    mutating func clock(_ milestone: ComplaintSLAEvent.Milestone, _ target: SLATarget, after seconds: TimeInterval) {
        let at = registeredAt.addingTimeInterval(seconds)
        sla.append(EventEnvelope(
            source: "/redress/sla-watcher", time: at, hotelID: hotel,
            data: ComplaintSLAEvent(complaintID: id, milestone: milestone, target: target, severity: severity, deadline: at, occurredAt: at)))
    }
}
