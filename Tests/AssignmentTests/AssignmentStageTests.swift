import Access
import Assignment
import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import PostgresNIO
import RdKafka
import RdKafkaTestKit
import Testing

@Suite("Assignment stage end to end", .timeLimit(.minutes(3)))
struct AssignmentStageTests {
    static let a = AssignmentHarness.hotelA

    @Test("classified in → assigned out once even when redelivered; escalation re-assigns once; resolving frees capacity")
    func loop() async throws {
        try await AssignmentHarness.run { harness in
            let first = try AssignmentHarness.classified(language: "en")
            let second = try AssignmentHarness.classified(language: "zh-CN")
            // The first is delivered twice (same event id), as after a consumer crash.
            try await harness.publish([first, first, second], on: harness.topics.classified)
            let initial = try await harness.assigned(2)
            let byComplaint = Dictionary(grouping: initial, by: \.data.complaintID)
            let one = try #require(byComplaint[first.data.complaintID]?.first)
            let two = try #require(byComplaint[second.data.complaintID]?.first)
            #expect(byComplaint[first.data.complaintID]?.count == 1)
            #expect(Set([one.data.assignee.staffID, two.data.assignee.staffID]) == ["\(Self.a)-HK-1", "\(Self.a)-HK-2"])
            #expect(one.data.department == "housekeeping")
            #expect(one.data.strategy == "least_loaded")
            #expect(one.data.reason == .initial)
            #expect(one.data.escalationLevel == 0)
            #expect(one.data.registeredAt == first.data.registeredAt)
            #expect(one.hotelID == Self.a)
            #expect(one.source == "/redress/assignment")
            #expect(one.data.explanation?.hasPrefix("least loaded of 3 on duty in Housekeeping") == true)

            // The SLA watcher escalates the first to level 1 (twice, as two events): one re-assignment.
            let escalation = EventEnvelope(
                source: "/redress/sla-watcher", time: Date(), hotelID: Self.a,
                data: ComplaintSLAEvent(
                    complaintID: first.data.complaintID, milestone: .escalated(Escalation(level: 1, escalateTo: .departmentHead)),
                    target: .acknowledge, severity: .moderate, deadline: Date(), occurredAt: Date()))
            var again = escalation
            again.id = UUID()
            try await harness.publish([escalation, again], on: harness.topics.sla)
            let escalated = try #require(try await harness.assigned(3).first { $0.data.reason == .escalation })
            #expect(escalated.data.complaintID == first.data.complaintID)
            #expect(escalated.data.assignee.staffID == "\(Self.a)-HK-H")
            #expect(escalated.data.assignee.role == .departmentHead)
            #expect(escalated.data.escalationLevel == 1)
            #expect(escalated.data.explanation == "escalation level 1: department head of Housekeeping on duty")

            // Resolving the second frees its owner's capacity.
            let resolved = EventEnvelope(
                source: "/redress/intake", time: Date(), hotelID: Self.a,
                data: ComplaintUpdated(
                    complaintID: second.data.complaintID,
                    change: .resolved(Resolution(text: "Room cleaned again", rootCause: "housekeeping_miss", isFirstContact: true)),
                    occurredAt: Date(), actor: EventActor(id: "\(Self.a)-HK-2", role: .staff), statusAfter: .resolved))
            try await harness.publish([resolved], on: harness.topics.updated)
            let freed = try await eventually {
                try await harness.count("SELECT count(*)::int FROM §.complaints WHERE status = 'resolved'") == 1
            }
            #expect(freed)
            let onDuty = try await harness.request(.GET, "/v1/hotels/\(Self.a)/on-duty", key: harness.admin)
            let loads = (onDuty.json["staff"] as? [[String: Any]] ?? []).reduce(into: [String: Int]()) {
                $0[$1["staffId"] as? String ?? ""] = $1["openLoad"] as? Int
            }
            #expect(loads == ["\(Self.a)-HK-1": 0, "\(Self.a)-HK-2": 0, "\(Self.a)-HK-H": 1, "\(Self.a)-DM-1": 0, "\(Self.a)-GM-1": 0])

            // Every assignment is kept: the first complaint has two, the history API shows them in order.
            #expect(try await harness.count("SELECT count(*)::int FROM §.assignments") == 3)
            let staffKey = try await harness.key(.staff)
            let history = try await harness.request(.GET, "/v1/complaints/\(first.data.complaintID.uuidString.lowercased())/assignments", key: staffKey)
            #expect(history.status == 200)
            let entries = history.json["assignments"] as? [[String: Any]] ?? []
            #expect(entries.map { $0["version"] as? Int } == [1, 2])
            #expect(entries.map { $0["reason"] as? String } == ["initial", "escalation"])
            // Another hotel's staff cannot see it.
            let otherKey = try await harness.key(.staff, hotels: [AssignmentHarness.hotelB])
            let hidden = try await harness.request(.GET, "/v1/complaints/\(first.data.complaintID.uuidString.lowercased())/assignments", key: otherKey)
            #expect(hidden.status == 404)
        }
    }

    @Test("a backlog of two hotels' complaints on every partition shares transactions, locks hotels in one order: each assigned once")
    func backlogOfTwoHotels() async throws {
        try await AssignmentHarness.run { harness in
            let events = try (0..<40).map { index in
                try AssignmentHarness.classified(hotel: index % 2 == 0 ? Self.a : AssignmentHarness.hotelB)
            }
            // Hold both hotels' locks while publishing: every lane's first event waits, the rest queue up
            // behind it, and once the locks go each lane applies its queue several events at a time.
            try await harness.client.withConnection { connection in
                _ = try await connection.query("BEGIN", logger: .complaintTest)
                _ = try await connection.query(
                    PostgresQuery(unsafeSQL: "SELECT hotel_id FROM \(harness.schema).hotels ORDER BY hotel_id FOR UPDATE"), logger: .complaintTest
                ).collect()
                do {
                    try await harness.publish(events, on: harness.topics.classified)
                } catch {
                    _ = try? await connection.query("ROLLBACK", logger: .complaintTest)
                    throw error
                }
                _ = try await connection.query("COMMIT", logger: .complaintTest)
            }
            let assigned = try await harness.assigned(40, timeout: .seconds(60))
            #expect(Set(assigned.map(\.data.complaintID)) == Set(events.map(\.data.complaintID)), "each complaint assigned")
            #expect(try await harness.count("SELECT count(*)::int FROM §.assignments") == 40, "once")
            let transactions = try await harness.count("SELECT count(DISTINCT xmin::text)::int FROM §.assignments")
            #expect(transactions < 40, "several assignments in one transaction (\(transactions) transactions)")
        }
    }

    @Test("VIP goes to the department head; a hotel it does not know is dead-lettered with the reason")
    func seniorityAndDeadLetter() async throws {
        try await AssignmentHarness.run { harness in
            let vip = try AssignmentHarness.classified(vip: true)
            try await harness.publish([vip], on: harness.topics.classified)
            let assigned = try #require(try await harness.assigned(1).first)
            #expect(assigned.data.assignee.staffID == "\(Self.a)-HK-H")
            #expect(assigned.data.explanation?.hasSuffix("VIP: supervisor or above") == true)

            let unknown = try AssignmentHarness.classified(hotel: "NOPE-01")
            try await harness.publish([unknown], on: harness.topics.classified)
                        let consumer = try KafkaConsumer(configuration: harness.kafka.consumerConfiguration(topics: [harness.deadLetters]), logger: harness.kafka.logger)
            let letters = try await withRunningServices([consumer]) { try await consumer.collect(1) }
            let record = try Topics.deadLetter.decode(Array(letters[0].value.readableBytesView))
            #expect(record.data.reason.contains("hotel NOPE-01 has no organisation in the assignment service"))

            // An escalation naming another hotel than the complaint's is refused, not planned among that
            // hotel's people.
            let stray = EventEnvelope(
                source: "/redress/sla-watcher", time: Date(), hotelID: AssignmentHarness.hotelB,
                data: ComplaintSLAEvent(
                    complaintID: vip.data.complaintID, milestone: .escalated(Escalation(level: 1, escalateTo: .departmentHead)),
                    target: .acknowledge, severity: .moderate, deadline: Date(), occurredAt: Date()))
            try await harness.publish([stray], on: harness.topics.sla)
            let again = try KafkaConsumer(configuration: harness.kafka.consumerConfiguration(topics: [harness.deadLetters]), logger: harness.kafka.logger)
            let both = try await withRunningServices([again]) { try await again.collect(2) }
            let reasons = try both.map { try Topics.deadLetter.decode(Array($0.value.readableBytesView)).data.reason }
            #expect(reasons.contains { $0.contains("names hotel \(AssignmentHarness.hotelB), but the complaint is \(Self.a)'s") }, "\(reasons)")
        }
    }

    @Test("a department on strategy http asks the group dispatcher before the transaction and takes its answer, NUL and all")
    func dispatcher() async throws {
        let router = Router()
        router.post("/assign") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "application/json"],
                     body: .init(byteBuffer: ByteBuffer(string: #"{"staffId":"\#(Self.a)-HK-2","reason":"nearest to\u0000the room"}"#)))
        }
        try await withLoopbackServer(router) { base in
            var organisation = AssignmentHarness.organisation
            organisation.dispatcher = DispatcherSettings(url: base + "/assign", timeoutMilliseconds: 2000)
            organisation.hotels[0].strategy = DispatcherStrategy.name
            try await AssignmentHarness.run(organisation: organisation) { harness in
                try await harness.publish([try AssignmentHarness.classified()], on: harness.topics.classified)
                let assigned = try #require(try await harness.assigned(1).first)
                #expect(assigned.data.assignee.staffID == "\(Self.a)-HK-2")
                #expect(assigned.data.strategy == "http")
                // The NUL in its answer is replaced: neither the event nor PostgreSQL text takes one (it was
                // refused five times, then dead-lettered, and the complaint was never assigned).
                #expect(
                    assigned.data.explanation?.hasPrefix("chosen by the group dispatcher of 3 on duty in Housekeeping: nearest to\u{FFFD}the room") == true,
                    "\(assigned.data.explanation ?? "")")
            }
        }
    }

    @Test("with the dispatcher down and round robin as its fallback, complaints go around in turn, not all to the first")
    func dispatcherDownRoundRobin() async throws {
        var organisation = AssignmentHarness.organisation
        // Nothing listens on port 1: every ask fails at once and the fallback decides.
        organisation.dispatcher = DispatcherSettings(url: "http://127.0.0.1:1/assign", timeoutMilliseconds: 500, fallback: RoundRobinStrategy.name)
        organisation.hotels[0].strategy = DispatcherStrategy.name
        try await AssignmentHarness.run(organisation: organisation) { harness in
            for _ in 0..<2 {
                // One at a time: each turn is taken before the next complaint is decided.
                try await harness.publish([try AssignmentHarness.classified()], on: harness.topics.classified)
            }
            let assigned = try await harness.assigned(2)
            #expect(Set(assigned.map(\.data.assignee.staffID)).count == 2, "\(assigned.map(\.data.assignee.staffID))")
        }
    }
}
