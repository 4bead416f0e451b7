import Access
import Assignment
import ComplaintEvents
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
import ServiceLifecycle
import Synchronization

/// A real assignment process in the test: its StageRuntime on a fresh schema and fresh topics, HTTP on a
/// loopback port, Kafka embedded (or `KAFKA_BROKERS`), PostgreSQL from ``TestDatabase``.
struct AssignmentHarness: Sendable {
    let base: String
    let client: PostgresClient
    let schema: SchemaName
    let topics: AssignmentService.Topics
    let kafka: KafkaTestEnvironment
    let keys: APIKeyStore
    /// An admin key (all hotels).
    let admin: String
    /// Where the stage dead-letters.
    let deadLetters: String

    static let hotelA = "TST-A01"
    static let hotelB = "TST-B02"

    /// Two hotels whose people are on shift around the clock (decisions do not depend on when the test runs).
    static var organisation: Organisation {
        let always = [Shift(days: Weekday.allCases, start: LocalTime("00:00")!, end: LocalTime("24:00")!)]
        func hotel(_ id: String, zone: String) -> HotelOrganisation {
            let prefix = id + "-"
            return HotelOrganisation(
                id: id, name: "Hotel \(id)", timeZone: zone,
                departments: [
                    Department(code: "housekeeping", name: "Housekeeping", categories: [.cleanliness, .amenities]),
                    Department(code: "engineering", name: "Engineering", categories: [.maintenance]),
                    Department(code: "front_office", name: "Front Office", categories: [.noise, .frontDesk, .other]),
                ],
                staff: [
                    StaffMember(id: "\(prefix)HK-1", name: "Ana", role: .agent, departments: ["housekeeping"], languages: ["en"], capacity: 2, shifts: always),
                    StaffMember(id: "\(prefix)HK-2", name: "Bo", role: .agent, departments: ["housekeeping"], languages: ["zh-CN"], capacity: 2, shifts: always),
                    StaffMember(id: "\(prefix)HK-H", name: "Cai", role: .departmentHead, departments: ["housekeeping"], capacity: 2, shifts: always),
                    StaffMember(id: "\(prefix)DM-1", name: "Dai", role: .dutyManager, departments: [], capacity: 10, shifts: always),
                    StaffMember(id: "\(prefix)GM-1", name: "Eve", role: .generalManager, departments: [], capacity: 20, shifts: always),
                ])
        }
        return Organisation(hotels: [hotel(hotelA, zone: "Asia/Shanghai"), hotel(hotelB, zone: "Europe/London")])
    }

    static func run(
        organisation: Organisation = AssignmentHarness.organisation,
        _ body: @Sendable (AssignmentHarness) async throws -> Void
    ) async throws {
        let kafka = try KafkaTestEnvironment()
        var topics = AssignmentService.Topics()
        topics.classified = topics.classified.renamed(try await kafka.makeTopic(prefix: "classified", partitions: 3))
        topics.sla = topics.sla.renamed(try await kafka.makeTopic(prefix: "sla", partitions: 3))
        topics.updated = topics.updated.renamed(try await kafka.makeTopic(prefix: "updated", partitions: 3))
        topics.assigned = topics.assigned.renamed(try await kafka.makeTopic(prefix: "assigned", partitions: 3))
        let stageTopics = topics
        let database = try await TestDatabase.shared.configuration()
        let service = RedressService.assignment.isolated()
        let schema = service.schema
        let settings = ServiceSettings.forTests(kafkaBrokers: kafka.bootstrapServers, databaseURL: database.url)
        var runtime = AssignmentService.makeRuntime(
            service: service, settings: settings, organisation: organisation, topics: topics, logger: .complaintTest)
        let deadLetters = try await kafka.makeTopic(prefix: "deadletter", partitions: 1)
        runtime.deadLetterTopic = deadLetters

        try await withIsolatedStage(runtime) { base, client in
            let (keys, admin) = try await APIKeyStore.forTests(client: client)
            try await body(AssignmentHarness(
                base: base, client: client, schema: schema, topics: stageTopics, kafka: kafka, keys: keys, admin: admin, deadLetters: deadLetters))
        }
    }

    /// A new key of `role` for `hotels`.
    func key(_ role: AccessRole, hotels: [String] = [hotelA]) async throws -> String {
        try await keys.create(
            name: "\(role.rawValue)-\(UUID().uuidString.prefix(6).lowercased())", role: role, hotels: hotels, client: client,
            logger: .complaintTest
        ).key.description
    }

    func request(_ method: HTTPMethod, _ path: String, key: String?, body: String? = nil) async throws -> HTTPReply {
        try await plainRequest(method, base + path, key: key, body: body)
    }

    /// Publishes `events` on `topic`, in order, keyed by complaint.
    func publish<Payload>(_ events: [EventEnvelope<Payload>], on topic: Topic<Payload>) async throws {
        let producer = try KafkaProducer(configuration: kafka.producerConfiguration(), logger: kafka.logger)
        try await withRunningServices([producer]) {
            for event in events {
                _ = try await producer.sendAndAwait(KafkaProducerMessage(
                    topic: topic.name, key: topic.key(for: event).map { ByteBuffer(bytes: $0) },
                    value: ByteBuffer(bytes: try topic.encode(event))))
            }
        }
    }

    /// The first `count` assignments published, from the beginning of the topic.
    func assigned(_ count: Int, timeout: Duration = .seconds(90)) async throws -> [EventEnvelope<ComplaintAssigned>] {
        let consumer = try KafkaConsumer(configuration: kafka.consumerConfiguration(topics: [topics.assigned.name]), logger: kafka.logger)
        let messages = try await withRunningServices([consumer]) { try await consumer.collect(count, timeout: timeout) }
        return try messages.map { try topics.assigned.decode(Array($0.value.readableBytesView)) }
    }

    /// A number from the assignment schema.
    func count(_ sql: String) async throws -> Int {
        let rows = try await client.query(PostgresQuery(unsafeSQL: sql.replacingOccurrences(of: "§", with: schema.rawValue)), logger: .complaintTest)
        return try await rows.collect().first?.decode(Int.self) ?? 0
    }

    /// A classification of a new complaint at `hotel`.
    static func classified(
        hotel: String = hotelA, category: ComplaintCategory = .cleanliness, severity: Severity = .moderate, language: String = "en",
        vip: Bool = false, complaintID: UUID = UUID()
    ) throws -> EventEnvelope<ComplaintClassified> {
        var event = try EventFixtures.classified(complaintID: complaintID)
        event.hotelID = hotel
        event.data.category = category
        event.data.severity = severity
        event.data.language = language
        event.data.flags.isVIP = vip
        event.data.registeredAt = Date(timeIntervalSince1970: 1_796_000_000)
        return event
    }
}

