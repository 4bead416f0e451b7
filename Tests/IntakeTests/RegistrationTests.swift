import ComplaintTesting
import ComplaintPipeline
import Access
import AsyncHTTPClient
import ComplaintEvents
import Foundation
import Intake
import NIOCore
import NIOHTTP1
import RdKafka
import Testing

@Suite("Registration: once per source + externalId, from HTTP", .timeLimit(.minutes(3)))
struct RegistrationTests {
    @Test("201 with Location, replay 200 with the same id, Idempotency-Key replay and misuse, one received event without contact details")
    func createAndReplay() async throws {
        try await IntakeHarness.run { harness in
            let publisher = try await harness.key(.publisher, name: "opera-pms")
            let externalID = "OPR-\(UUID().uuidString.prefix(8))"
            let body = IntakeHarness.submission(externalID: externalID)

            let created = try await harness.request(.POST, "/v1/complaints", key: publisher, body: body)
            #expect(created.status == 201)
            let id = try #require(created.json["id"] as? String)
            #expect(created.headers["location"] == "/v1/complaints/\(id)")

            let replay = try await harness.request(.POST, "/v1/complaints", key: publisher, body: body)
            #expect(replay.status == 200)
            #expect(replay.json["id"] as? String == id)
            #expect(try await harness.complaintCount(externalID: externalID) == 1)

            // Idempotency-Key: same key and body → the same complaint; same key, other body → 422.
            let other = IntakeHarness.submission(externalID: "OPR-\(UUID().uuidString.prefix(8))")
            let first = try await harness.request(.POST, "/v1/complaints", key: publisher, body: other, headers: [("Idempotency-Key", "k-1")])
            #expect(first.status == 201)
            let again = try await harness.request(.POST, "/v1/complaints", key: publisher, body: other, headers: [("Idempotency-Key", "k-1")])
            #expect(again.status == 200)
            #expect(again.json["id"] as? String == first.json["id"] as? String)
            let misuse = try await harness.request(
                .POST, "/v1/complaints", key: publisher, body: IntakeHarness.submission(), headers: [("Idempotency-Key", "k-1")])
            #expect(misuse.status == 422)
            #expect(misuse.headers["content-type"] == "application/problem+json")
            #expect(misuse.body.contains("Idempotency-Key"))

            // Exactly two complaints → exactly two received events; the guest travels pseudonymised.
            let messages = try await harness.consume(harness.topics.received.name, count: 2)
            let events = try messages.map { try harness.topics.received.decode(Array($0.value.readableBytesView)) }
            #expect(Set(events.map { $0.data.complaintID.uuidString.lowercased() }).count == 2)
            let event = try #require(events.first { $0.data.externalID == externalID })
            #expect(event.data.complaintID.uuidString.lowercased() == id)
            #expect(event.data.guest.guestKey?.count == 64)
            let raw = String(buffer: messages[0].value)
            #expect(!raw.contains("+8613800138000") && !raw.contains("li.wei@example.com") && !raw.contains("GC-2210987"))
        }
    }

    @Test("50 parallel identical submissions register exactly one complaint")
    func concurrentDuplicates() async throws {
        try await IntakeHarness.run(access: { $0.ratePerSecond = 1000 }) { harness in
            let externalID = "WX-\(UUID().uuidString.prefix(8))"
            let body = IntakeHarness.submission(source: "wechat_mp", externalID: externalID)
            let replies = try await withThrowingTaskGroup(of: IntakeHarness.Reply.self) { group in
                for _ in 0..<50 {
                    group.addTask {
                        try await harness.request(.POST, "/v1/complaints", key: harness.admin, body: body, headers: [("Idempotency-Key", externalID)])
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(replies.filter { $0.status == 201 }.count == 1)
            #expect(replies.filter { $0.status == 200 }.count == 49)
            #expect(Set(replies.compactMap { $0.json["id"] as? String }).count == 1)
            #expect(try await harness.complaintCount(externalID: externalID) == 1)
        }
    }
}
