import Access
import Classifier
import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import PostgresNIO
import RdKafka
import RdKafkaTestKit
import Testing

/// Two corrections with one `Idempotency-Key` at once: the second's check ran before the first committed,
/// so it saw the key unused, and its insert hit the key's UNIQUE (23505, a 500). It now gets what it would
/// get after the first: a 422 on `header.Idempotency-Key` for another request, the stored verdict for the same.
@Suite("Staff corrections racing on one Idempotency-Key", .timeLimit(.minutes(3)))
struct ClassificationCorrectionRaceTests {
    @Test("a correction whose Idempotency-Key another is committing waits for it, then is answered as a request after it")
    func sameKeyConcurrently() async throws {
        let kafka = try KafkaTestEnvironment()
        let stage = try await TestClassifierStage(kafka)
        let (service, input, output) = (stage.service, stage.input, stage.output)
        let lamp = try EventFixtures.received(text: "The bedside lamp flickers now and then.")
        let music = try EventFixtures.received(text: "Loud music from the room next door until 3am")
        let hotel = lamp.hotelID
        let schema = service.schema.rawValue

        try await withIsolatedStage(stage.runtime) { base, client in
            let (keys, _) = try await APIKeyStore.forTests(client: client)
            let created = try await keys.create(name: "dm-wang.li", role: .manager, hotels: [hotel], client: client, logger: .complaintTest)
            let (manager, keyID) = (created.key.description, created.record.id)
            let body = #"{"category":"maintenance","severity":"serious","reason":"the speaker was broken and stuck on"}"#
            let path = "/v1/complaints/\(music.data.complaintID.lowercasedString)/classification"
            @Sendable func put(idempotencyKey: String) async throws -> HTTPReply {
                try await plainRequest(
                    .PUT, base + path, key: manager, body: body, contentType: "application/json", headers: [("Idempotency-Key", idempotencyKey)])
            }
            let producer = try KafkaProducer(configuration: kafka.producerConfiguration(), logger: kafka.logger)
            let consumer = try KafkaConsumer(configuration: kafka.consumerConfiguration(topics: [output.name]), logger: kafka.logger)
            try await withRunningServices([producer, consumer]) {
                for event in [lamp, music] {
                    _ = try await producer.sendAndAwait(KafkaProducerMessage(
                        topic: input.name, key: ByteBuffer(string: event.data.complaintID.lowercasedString),
                        value: ByteBuffer(bytes: try input.encode(event))))
                }
                let automatic = try await consumer.collect(2).map { try output.decode(Array($0.value.readableBytesView)) }
                let musicVerdict = try #require(automatic.first { $0.data.complaintID == music.data.complaintID }).data

                /// Runs the PUT with `idempotencyKey` while another transaction holds an uncommitted correction
                /// with that key (for `complaint`, its fingerprint the SHA-256 of `request`), commits it once the PUT
                /// waits for it, and returns the PUT's reply.
                func racing(idempotencyKey: String, complaint: UUID, request: String, verdict: ComplaintClassified) async throws -> HTTPReply {
                    try await client.withConnection { holder in
                        try await holder.query("BEGIN", logger: .complaintTest)
                        do {
                            let pid = try await holder.query("SELECT pg_backend_pid()", logger: .complaintTest).collect()[0].decode(Int32.self)
                            var insert = PostgresQuery(unsafeSQL: """
                                INSERT INTO \(schema).classification_corrections
                                    (correction_id, complaint_id, hotel_id, staff_id, api_key_id, category, severity, reason, previous_category,
                                     previous_severity, classified_at, idempotency_key, request_sha256, verdict)
                                VALUES ($1, $2, $3, 'dm-wang.li', $4, $5, $6, 'first', 'other', 'minor', now(), $7, sha256(convert_to($8, 'UTF8')), $9::jsonb)
                                """)
                            insert.binds.append(UUID())
                            insert.binds.append(complaint)
                            insert.binds.append(hotel)
                            insert.binds.append(keyID)
                            insert.binds.append(verdict.category.rawValue)
                            insert.binds.append(verdict.severity.rawValue)
                            insert.binds.append(idempotencyKey)
                            insert.binds.append(request)
                            insert.binds.append(String(decoding: try EventCoding.write(verdict), as: UTF8.self))
                            try await holder.query(insert, logger: .complaintTest)
                            let reply = Task { try await put(idempotencyKey: idempotencyKey) }
                            // The PUT waits for this transaction (on the key's UNIQUE index, or the verdict row its
                            // foreign key holds) before it commits.
                            let waiting = try await eventually {
                                try await client.scalar(
                                    "SELECT count(*)::int FROM pg_stat_activity WHERE \(pid) = ANY(pg_blocking_pids(pid))", as: Int.self) > 0
                            }
                            #expect(waiting, "the PUT never waited for the other correction")
                            try await holder.query("COMMIT", logger: .complaintTest)
                            return try await reply.value
                        } catch {
                            _ = try? await holder.query("ROLLBACK", logger: .complaintTest)
                            throw error
                        }
                    }
                }

                // Another request with the key (a correction of the lamp) commits first: this one is a 422.
                var lampVerdict = try #require(automatic.first { $0.data.complaintID == lamp.data.complaintID }).data
                lampVerdict.category = .maintenance
                let other = try await racing(
                    idempotencyKey: "fix-1", complaint: lamp.data.complaintID,
                    request: "PUT /v1/complaints/\(lamp.data.complaintID.lowercasedString)/classification\n{}", verdict: lampVerdict)
                #expect(other.status == 422, "\(other.body)")
                #expect(other.headers["content-type"] == "application/problem+json")
                #expect((other.json["errors"] as? [[String: Any]])?.first?["field"] as? String == "header.Idempotency-Key", "\(other.body)")
                // Exactly what the same request answers afterwards, and the music complaint's verdict is untouched.
                let after = try await put(idempotencyKey: "fix-1")
                #expect(after.status == 422 && after.json["errors"] as? [[String: String]] == other.json["errors"] as? [[String: String]], "\(after.body)")
                let untouched = try await client.scalar(
                    "SELECT classifier FROM \(unescaped: schema).classifications WHERE complaint_id = \(music.data.complaintID)", as: String.self)
                #expect(untouched != "staff")

                // The same request can only race on its own complaint, whose verdict row the other correction's
                // foreign key holds: it waits there and then answers the stored verdict as a repeat.
                var stored = musicVerdict
                stored.category = .maintenance
                stored.severity = .serious
                let same = try await racing(idempotencyKey: "fix-2", complaint: music.data.complaintID, request: "PUT \(path)\n\(body)", verdict: stored)
                #expect(same.status == 200, "\(same.body)")
                #expect(same.headers["idempotent-replayed"] == "true")
                let answered = try EventCoding.decode(ComplaintClassified.self, from: Array(same.body.utf8))
                #expect(answered.complaintID == stored.complaintID && answered.classifiedAt == stored.classifiedAt, "\(same.body)")
                #expect(answered.category == .maintenance && answered.severity == .serious, "\(same.body)")
                #expect(try await client.scalar(
                    "SELECT classifier FROM \(unescaped: schema).classifications WHERE complaint_id = \(music.data.complaintID)",
                    as: String.self) != "staff")
                // Nothing beyond the two automatic verdicts was published.
                #expect(try await client.scalar("SELECT count(*)::int FROM \(unescaped: schema).outbox", as: Int.self) == 2)
            }
        }
    }
}
