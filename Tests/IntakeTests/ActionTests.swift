import ComplaintTesting
import ComplaintPipeline
import Access
import ComplaintEvents
import Foundation
import Intake
import NIOCore
import NIOHTTP1
import PostgresNIO
import RdKafka
import Testing

@Suite("Staff actions follow the state machine", .timeLimit(.minutes(3)))
struct ActionTests {
    @Test("every transition, 409 with the current status for illegal ones, timeline and updated events in order")
    func lifecycle() async throws {
        try await IntakeHarness.run { harness in
            let staff = try await harness.key(.staff, name: "fd-li.wei")
            let (_, id) = try await harness.submit(IntakeHarness.submission())
            let path = "/v1/complaints/\(id)"
            func act(_ action: String, _ body: String? = nil) async throws -> IntakeHarness.Reply {
                try await harness.request(.POST, "\(path)/\(action)", key: staff, body: body)
            }
            func expectConflict(_ reply: IntakeHarness.Reply, current: String, sourceLocation: SourceLocation = #_sourceLocation) {
                #expect(reply.status == 409, "\(reply.body)", sourceLocation: sourceLocation)
                #expect(reply.json["currentStatus"] as? String == current, sourceLocation: sourceLocation)
                #expect(reply.headers["content-type"] == "application/problem+json", sourceLocation: sourceLocation)
            }
            let resolution = #"{"text":"更换了空调压缩机，客人满意","rootCause":"hvac_failure","firstContact":false}"#

            // received: cannot resolve, close, reopen or record a follow-up yet.
            expectConflict(try await act("resolve", resolution), current: "received")
            expectConflict(try await act("close"), current: "received")
            expectConflict(try await act("reopen", #"{"reason":"x"}"#), current: "received")
            expectConflict(try await act("follow-up", #"{"satisfaction":5,"nps":9}"#), current: "received")

            #expect(try await act("acknowledge").json["status"] as? String == "acknowledged")
            expectConflict(try await act("acknowledge"), current: "acknowledged")
            let note = try await act("notes", #"{"text":"已联系工程部","visibility":"internal"}"#)
            #expect(note.status == 200)
            #expect(note.json["status"] as? String == "acknowledged")
            // One UUID spelling everywhere: the response's id is the Location's, lower case.
            #expect(note.json["complaintId"] as? String == id)
            #expect(id == id.lowercased())
            // A NUL in a note names the field.
            let nul = try await act("notes", #"{"text":"已联系\u0000工程部","visibility":"internal"}"#)
            #expect(nul.status == 422)
            let nulErrors = try #require(nul.json["errors"] as? [[String: String]])
            #expect(nulErrors.first?["field"] == "text", "\(nul.body)")
            // Waiting for the guest pauses the SLA clocks; only from acknowledged, and resume goes back.
            expectConflict(try await act("resume"), current: "acknowledged")
            #expect(try await act("wait-for-guest").json["status"] as? String == "waiting_for_guest")
            expectConflict(try await act("wait-for-guest"), current: "waiting_for_guest")
            expectConflict(try await act("acknowledge"), current: "waiting_for_guest")
            #expect(try await act("resume").json["status"] as? String == "acknowledged")
            #expect(try await act("wait-for-guest").json["status"] as? String == "waiting_for_guest")
            // Resolving while waiting ends the wait too.
            #expect(try await act("resolve", resolution).json["status"] as? String == "resolved")
            expectConflict(try await act("resume"), current: "resolved")
            // A satisfied guest leaves it resolved; a dissatisfied one (≤ 2) reopens it.
            #expect(try await act("follow-up", #"{"satisfaction":2,"nps":3,"comment":"还是很热"}"#).json["status"] as? String == "reopened")
            #expect(try await act("resolve", resolution).json["status"] as? String == "resolved")
            #expect(try await act("follow-up", #"{"satisfaction":5,"nps":10}"#).json["status"] as? String == "resolved")
            #expect(try await act("close").json["status"] as? String == "closed")
            expectConflict(try await act("close"), current: "closed")
            // 600 characters but 1,200 Unicode scalars, as the event's rules count them: a 422 naming the
            // field, not a 500 when the event fails its validation after the check passed.
            let thumbs = try await act("reopen", #"{"reason":""# + String(repeating: "👍🏽", count: 600) + #""}"#)
            #expect(thumbs.status == 422, "\(thumbs.body)")
            #expect((thumbs.json["errors"] as? [[String: String]])?.first?["field"] == "reason", "\(thumbs.body)")
            #expect(try await act("reopen", #"{"reason":"客人再次来电"}"#).json["status"] as? String == "reopened")
            #expect(try await act("acknowledge").json["status"] as? String == "acknowledged")

            let complaint = try await harness.request(.GET, path, key: staff)
            #expect(complaint.status == 200)
            #expect(complaint.json["status"] as? String == "acknowledged")
            let timeline = try #require(complaint.json["timeline"] as? [[String: Any]])
            let kinds = timeline.map { $0["kind"] as? String ?? "" }
            let expected = ["received", "acknowledged", "note_added", "waiting_for_guest", "resumed", "waiting_for_guest", "resolved",
                            "followup_recorded", "reopened", "resolved", "followup_recorded", "closed", "reopened", "acknowledged"]
            #expect(kinds == expected)
            #expect((timeline[1]["actor"] as? [String: Any])?["id"] as? String == "fd-li.wei")

            let messages = try await harness.consume(harness.topics.updated.name, count: expected.count - 1)
            let events = try messages.map { try harness.topics.updated.decode(Array($0.value.readableBytesView)) }
            #expect(events.map(\.data.kind.rawValue) == Array(expected.dropFirst()))
            #expect(events.map(\.data.statusAfter.rawValue).last == "acknowledged")
            #expect(events.map(\.data.statusAfter.rawValue)[2...4] == ["waiting_for_guest", "acknowledged", "waiting_for_guest"])
            #expect(Set(messages.map(\.partition)).count == 1, "one complaint's events share a partition")
        }
    }

    @Test("compensation within authority is approved at once, above it waits for a manager")
    func compensation() async throws {
        try await IntakeHarness.run { harness in
            let staff = try await harness.key(.staff)
            let manager = try await harness.key(.manager)
            let (_, id) = try await harness.submit(IntakeHarness.submission())
            let path = "/v1/complaints/\(id)/compensations"
            let small = try await harness.request(.POST, path, key: staff, body: #"{"kind":"voucher","amountMinor":15000,"currency":"CNY","reason":"早餐券"}"#)
            #expect(small.status == 201)
            #expect(small.json["compensationState"] as? String == "approved")
            // ¥150 approved already; another ¥100 exceeds the ¥200 staff authority for this complaint.
            let large = try await harness.request(.POST, path, key: staff, body: #"{"kind":"refund","amountMinor":10000,"currency":"CNY","reason":"退一晚房费"}"#)
            #expect(large.status == 202)
            #expect(large.json["compensationState"] as? String == "pending")
            let pending = try #require(large.json["compensationId"] as? String)

            let byStaff = try await harness.request(.POST, "\(path)/\(pending)/approve", key: staff)
            #expect(byStaff.status == 403)
            let approved = try await harness.request(.POST, "\(path)/\(pending)/approve", key: manager, body: #"{"note":"同意"}"#)
            #expect(approved.status == 200)
            #expect(approved.json["compensationState"] as? String == "approved")
            let twice = try await harness.request(.POST, "\(path)/\(pending)/reject", key: manager)
            #expect(twice.status == 409)
            let unknown = try await harness.request(.POST, "\(path)/\(UUID().uuidString.lowercased())/approve", key: manager)
            #expect(unknown.status == 404)
            let invalid = try await harness.request(.POST, path, key: staff, body: #"{"kind":"voucher","amountMinor":-5,"currency":"cny","reason":""}"#)
            #expect(invalid.status == 422)
            let fields = (invalid.json["errors"] as? [[String: String]] ?? []).compactMap { $0["field"] }
            #expect(fields == ["amountMinor", "currency", "reason"])

            let complaint = try await harness.request(.GET, "/v1/complaints/\(id)", key: staff)
            let states = (complaint.json["compensations"] as? [[String: Any]] ?? []).compactMap { $0["state"] as? String }
            #expect(states == ["approved", "approved"])
            let kinds = try await harness.consume(harness.topics.updated.name, count: 4).map {
                try harness.topics.updated.decode(Array($0.value.readableBytesView)).data.kind.rawValue
            }
            #expect(kinds == ["compensation_requested", "compensation_approved", "compensation_requested", "compensation_approved"])
        }
    }

    /// A client that retries after a timeout or a 503 (the first request may have committed) sends the
    /// same Idempotency-Key: the compensation is granted once, and every retry gets the first answer.
    @Test("an action retried with its Idempotency-Key takes effect once and answers the first outcome")
    func idempotentActions() async throws {
        try await IntakeHarness.run { harness in
            let staff = try await harness.key(.staff)
            let (_, id) = try await harness.submit(IntakeHarness.submission())
            let path = "/v1/complaints/\(id)/compensations"
            let voucher = #"{"kind":"voucher","amountMinor":15000,"currency":"CNY","reason":"早餐券"}"#
            let first = try await harness.request(.POST, path, key: staff, body: voucher, headers: [("Idempotency-Key", "comp-1")])
            #expect(first.status == 201)
            #expect(first.headers["idempotent-replayed"] == nil)
            let granted = try #require(first.json["compensationId"] as? String)
            let retry = try await harness.request(.POST, path, key: staff, body: voucher, headers: [("Idempotency-Key", "comp-1")])
            #expect(retry.status == 201)
            #expect(retry.json["compensationId"] as? String == granted)
            #expect(retry.headers["idempotent-replayed"] == "true")

            // Four retries at once: one applies, the others wait for it and answer its outcome.
            let small = #"{"kind":"voucher","amountMinor":3000,"currency":"CNY","reason":"饮品"}"#
            let racing = try await withThrowingTaskGroup(of: IntakeHarness.Reply.self) { group in
                for _ in 0..<4 {
                    group.addTask { try await harness.request(.POST, path, key: staff, body: small, headers: [("Idempotency-Key", "comp-2")]) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(racing.map(\.status) == [201, 201, 201, 201])
            #expect(Set(racing.compactMap { $0.json["compensationId"] as? String }).count == 1)
            #expect(racing.filter { $0.headers["idempotent-replayed"] == "true" }.count == 3)

            // The key stands for that request only: another body, or another action, is refused.
            let otherBody = try await harness.request(
                .POST, path, key: staff, body: #"{"kind":"voucher","amountMinor":16000,"currency":"CNY","reason":"早餐券"}"#,
                headers: [("Idempotency-Key", "comp-1")])
            #expect(otherBody.status == 422)
            #expect((otherBody.json["errors"] as? [[String: String]])?.first?["field"] == "header.Idempotency-Key", "\(otherBody.body)")
            let otherAction = try await harness.request(.POST, "/v1/complaints/\(id)/acknowledge", key: staff, headers: [("Idempotency-Key", "comp-1")])
            #expect(otherAction.status == 422)
            let badKey = try await harness.request(.POST, path, key: staff, body: small, headers: [("Idempotency-Key", "kein schlüssel")])
            #expect((badKey.json["errors"] as? [[String: String]])?.first?["field"] == "header.Idempotency-Key")

            let complaint = try await harness.request(.GET, "/v1/complaints/\(id)", key: staff)
            let amounts = (complaint.json["compensations"] as? [[String: Any]] ?? []).compactMap { $0["amountMinor"] as? Int }
            #expect(amounts == [15000, 3000], "each granted once")
        }
    }

    @Test("an action stuck behind a lock answers 503 when the guard gives up, and takes no effect after")
    func lockedComplaint() async throws {
        try await IntakeHarness.run(access: { $0.databaseTimeout = .seconds(1) }) { harness in
            let staff = try await harness.key(.staff)
            let (_, id) = try await harness.submit(IntakeHarness.submission())
            let complaintID = try #require(UUID(uuidString: id))
            let table = "\(harness.schema).complaints"
            // Another transaction holds the complaint's row (a long report, an operator's psql session).
            let reply = try await harness.client.withConnection { holder in
                try await holder.query("BEGIN", logger: .complaintTest)
                try await holder.query("SELECT 1 FROM \(unescaped: table) WHERE id = \(complaintID) FOR UPDATE", logger: .complaintTest)
                // Without a server-side bound the request waits for the lock, so the holder lets go after
                // 30 s at the latest, and the test fails instead of hanging.
                let reply = try await withThrowingTaskGroup(of: IntakeHarness.Reply?.self) { group in
                    group.addTask { try await harness.request(.POST, "/v1/complaints/\(id)/acknowledge", key: staff) }
                    group.addTask {
                        try await Task.sleep(for: .seconds(30))
                        return nil
                    }
                    defer { group.cancelAll() }
                    return try await group.next() ?? nil
                }
                try await holder.query("ROLLBACK", logger: .complaintTest)
                return reply
            }
            let answered = try #require(reply, "the request waited for the lock past the guard's deadline")
            #expect(answered.status == 503)
            #expect(answered.headers["retry-after"] == "1", "\(answered.body)")
            // The statement was cancelled, not left waiting to take effect once the lock is gone; and
            // one request's wait does not shut the API: the guard stays closed.
            let complaint = try await harness.request(.GET, "/v1/complaints/\(id)", key: staff)
            #expect(complaint.status == 200, "\(complaint.body)")
            #expect(complaint.json["status"] as? String == "received")
            let retry = try await harness.request(.POST, "/v1/complaints/\(id)/acknowledge", key: staff)
            #expect(retry.status == 200, "\(retry.body)")
        }
    }
}
