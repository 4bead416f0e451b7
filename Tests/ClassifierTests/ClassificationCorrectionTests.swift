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

/// Staff correct a verdict through `PUT /v1/complaints/{id}/classification`: assignment and the SLA
/// watcher act on a newer verdict, and nothing produced one before.
@Suite("Staff corrections of a verdict", .timeLimit(.minutes(3)))
struct ClassificationCorrectionTests {
    @Test("a manager's correction is checked, stored, published once as a newer staff verdict, and no automatic verdict replaces it")
    func correction() async throws {
        let kafka = try KafkaTestEnvironment()
        let stage = try await TestClassifierStage(kafka)
        let (service, input, output) = (stage.service, stage.input, stage.output)

        var fixture = try EventFixtures.received()
        fixture.data.text = "The bedside lamp flickers now and then."
        fixture.data.guest.isVIP = false
        let received = fixture
        let hotel = received.hotelID
        let id = received.data.complaintID.lowercasedString

        try await withIsolatedStage(stage.runtime) { base, client in
            let (keys, admin) = try await APIKeyStore.forTests(client: client)
            func key(_ name: String, _ role: AccessRole, _ hotels: [String]) async throws -> String {
                try await keys.create(name: name, role: role, hotels: hotels, client: client, logger: .complaintTest).key.description
            }
            let manager = try await key("dm-wang.li", .manager, [hotel])
            let otherManager = try await key("dm-other", .manager, ["OTHER-01"])
            let staff = try await key("fd-li.wei", .staff, [hotel])
            func put(_ key: String?, _ body: String?, complaint: String = id, idempotencyKey: String? = nil, contentType: String? = "application/json") async throws -> HTTPReply {
                try await plainRequest(
                    .PUT, base + "/v1/complaints/\(complaint)/classification", key: key, body: body, contentType: contentType,
                    headers: idempotencyKey.map { [("Idempotency-Key", $0)] } ?? [])
            }
            let producer = try KafkaProducer(configuration: kafka.producerConfiguration(), logger: kafka.logger)
            let consumer = try KafkaConsumer(configuration: kafka.consumerConfiguration(topics: [output.name]), logger: kafka.logger)
            try await withRunningServices([producer, consumer]) {
                func send(_ event: EventEnvelope<ComplaintReceived>) async throws {
                    _ = try await producer.sendAndAwait(KafkaProducerMessage(
                        topic: input.name, key: ByteBuffer(string: event.data.complaintID.lowercasedString),
                        value: ByteBuffer(bytes: try input.encode(event))))
                }
                func next() async throws -> EventEnvelope<ComplaintClassified> {
                    // Decoding validates the event against the contract (the Swift rules agree with schemas/events).
                    try output.decode(Array(try #require(try await consumer.collect(1).first).value.readableBytesView))
                }
                let good = #"{"category":"safety_security","severity":"serious","reason":"the lamp's cable is melted; a fire risk"}"#
                // Not classified yet: nothing to correct.
                #expect(try await put(manager, good).status == 404)
                try await send(received)
                let automatic = try await next()
                #expect(automatic.data.severity != .serious)
                #expect(automatic.data.registeredAt == received.data.registeredAt)

                // Auth, scope and validation: problem+json naming the field, and nothing written.
                #expect(try await put(nil, good).status == 401)
                #expect(try await put(staff, good).status == 403)
                #expect(try await put(otherManager, good).status == 404, "another hotel's complaint is answered as a missing one")
                #expect(try await put(manager, good, complaint: UUID().uuidString.lowercased()).status == 404)
                #expect(try await put(manager, good, contentType: "text/plain").status == 415)
                for (body, field) in [
                    (#"{"category":"plumbing","severity":"serious","reason":"x"}"#, "category"),
                    (#"{"category":"maintenance","severity":"urgent","reason":"x"}"#, "severity"),
                    (#"{"category":"maintenance","severity":"serious","reason":"  "}"#, "reason"),
                    (#"{"category":"maintenance","severity":"serious"}"#, "reason"),
                    (#"{"category":"maintenance","severity":"serious","reason":"\#(String(repeating: "x", count: 301))"}"#, "reason"),
                ] {
                    let reply = try await put(manager, body)
                    #expect(reply.status == 422, "\(body): \(reply.body)")
                    #expect(reply.headers["content-type"] == "application/problem+json")
                    #expect((reply.json["errors"] as? [[String: Any]])?.first?["field"] as? String == field, "\(body): \(reply.body)")
                }
                #expect(try await put(manager, good, idempotencyKey: "bad key with spaces").status == 422)
                #expect(try await client.scalar("SELECT classifier FROM \(unescaped: service.schema.rawValue).classifications", as: String.self) != "staff")

                // The correction.
                let reply = try await put(manager, good, idempotencyKey: "fix-1")
                #expect(reply.status == 200, "\(reply.body)")
                #expect(reply.json["severity"] as? String == "serious")
                let corrected = try await next()
                #expect(corrected.data.category == .safetySecurity)
                #expect(corrected.data.severity == .serious)
                #expect(corrected.data.priority == 1)
                #expect(corrected.data.classifiedAt > automatic.data.classifiedAt)
                #expect(corrected.data.registeredAt == received.data.registeredAt)
                #expect(!corrected.data.flags.needsHumanReview)
                #expect(corrected.data.flags.involvesSafety)
                #expect(corrected.data.confidence == 1)
                #expect(corrected.data.explanation.classifier == "staff")
                #expect(corrected.data.explanation.matchedRules == ["staff_correction"])
                let summary = try #require(corrected.data.explanation.summary)
                #expect(summary.contains("set by staff dm-wang.li"), "\(summary)")
                #expect(summary.contains("the lamp's cable is melted; a fire risk"))
                #expect(summary.contains("the classifier said maintenance"), "\(summary)")
                // Who, why and what it replaced in members of their own (before: only in the summary).
                #expect(corrected.data.explanation.correction == ClassificationCorrection(
                    by: "dm-wang.li", reason: "the lamp's cable is melted; a fire risk", previousCategory: automatic.data.category,
                    previousSeverity: automatic.data.severity))
                #expect(automatic.data.category == .maintenance)
                #expect(automatic.data.explanation.correction == nil)
                #expect(corrected.hotelID == hotel)
                #expect(corrected.subject == id)

                // Idempotency: the same request again answers the first outcome and publishes nothing;
                // the key with another request is refused; the same verdict again without a key changes nothing.
                let repeated = try await put(manager, good, idempotencyKey: "fix-1")
                #expect(repeated.status == 200)
                #expect(repeated.headers["idempotent-replayed"] == "true")
                #expect(repeated.body == reply.body)
                let reused = try await put(manager, #"{"category":"maintenance","severity":"moderate","reason":"second thoughts"}"#, idempotencyKey: "fix-1")
                #expect(reused.status == 422)
                #expect((reused.json["errors"] as? [[String: Any]])?.first?["field"] as? String == "header.Idempotency-Key")
                let same = try await put(manager, good)
                #expect(same.status == 200)
                #expect(same.json["classifiedAt"] as? String == reply.json["classifiedAt"] as? String)
                // A stored verdict with members this build does not know (a newer build wrote it, then was
                // rolled back) still answers both repeats (before: 500, "unknown property").
                _ = try await client.query(
                    """
                    UPDATE \(unescaped: service.schema.rawValue).classification_corrections
                    SET verdict = jsonb_set(verdict || '{"addedLater":1}', '{explanation,correction,addedLater}', '"x"')
                    """, logger: .complaintTest)
                let afterRollback = try await put(manager, good, idempotencyKey: "fix-1")
                #expect(afterRollback.status == 200, "\(afterRollback.body)")
                #expect(afterRollback.body == reply.body)
                let unchangedAfterRollback = try await put(manager, good)
                #expect(unchangedAfterRollback.status == 200, "\(unchangedAfterRollback.body)")
                #expect(unchangedAfterRollback.json["classifiedAt"] as? String == reply.json["classifiedAt"] as? String)

                // An automatic verdict never replaces the staff one: the same complaint registered again
                // (a new event id, past the inbox: a replay of the topic) publishes nothing. A second
                // complaint behind it on the one partition shows the stage has read past it.
                try await send(try EventFixtures.received(complaintID: received.data.complaintID))
                var sentinel = try EventFixtures.received()
                sentinel.data.text = "Loud music from the room next door until 3am"
                try await send(sentinel)
                let after = try await next()
                #expect(after.data.complaintID == sentinel.data.complaintID, "the redelivered complaint was published again")
                #expect(try await client.scalar(
                    "SELECT classifier FROM \(unescaped: service.schema.rawValue).classifications WHERE complaint_id = \(received.data.complaintID)",
                    as: String.self) == "staff")
                #expect(try await client.scalar(
                    "SELECT count(*)::int FROM \(unescaped: service.schema.rawValue).classification_corrections", as: Int.self) == 1)
                #expect(try await client.scalar(
                    "SELECT count(*)::int FROM \(unescaped: service.schema.rawValue).outbox", as: Int.self) == 3)

                // Past the retention the verdicts go with their corrections (and their Idempotency-Keys): a
                // correction then is a 404 that says why, not a 500.
                let retention = ClassifierRetention(
                    store: StageStore(client: client, schema: service.schema, logger: .complaintTest), logger: .complaintTest)
                let purged = try await retention.purgeOnce(now: Date().addingTimeInterval(200 * 86_400))
                #expect(purged.classifications == 2 && purged.corrections == 1, "\(purged)")
                for idempotencyKey in [nil, "fix-1"] {
                    let gone = try await put(manager, good, idempotencyKey: idempotencyKey)
                    #expect(gone.status == 404, "\(gone.body)")
                    #expect(gone.headers["content-type"] == "application/problem+json")
                    #expect((gone.json["detail"] as? String)?.contains("purged after CLASSIFIER_RETENTION_DAYS") == true, "\(gone.body)")
                }
                _ = admin
            }
        }
    }

    /// The flag follows the corrected category as the classifier derives it (``SeverityPolicy/involvesSafety(category:safetyCue:)``):
    /// a correction away from `safety_security` clears it unless a safety cue matched (read from the stored
    /// explanation's rules, also on a safety_security verdict and after an earlier correction).
    @Test("a correction away from safety_security clears the safety flag unless a safety cue matched; a cue's flag on another category stays")
    func safetyFlagFollowsCategory() async throws {
        let kafka = try KafkaTestEnvironment()
        let stage = try await TestClassifierStage(kafka)
        let (input, output) = (stage.input, stage.output)
        // safety_security by category only ("stole" is a theft word, not the security_threat cue) …
        let plainEN = try EventFixtures.received(text: "Someone stole my wallet from the room while we were at dinner.")
        let plainZH = try EventFixtures.received(text: "我放在房间里的钱包不见了。")
        // … and with the security_threat cue ("stolen", 被偷).
        let cueEN = try EventFixtures.received(text: "My wallet was stolen from the room.")
        let cueZH = try EventFixtures.received(text: "我的钱包在房间里被偷了。")
        let sparks = try EventFixtures.received(text: "The bathroom light switch gives off sparks when I turn it on.")
        let events = [plainEN, plainZH, cueEN, cueZH, sparks]
        let hotel = plainEN.hotelID

        try await withIsolatedStage(stage.runtime) { base, client in
            let (keys, _) = try await APIKeyStore.forTests(client: client)
            let manager = try await keys.create(name: "dm-wang.li", role: .manager, hotels: [hotel], client: client, logger: .complaintTest).key.description
            func put(_ event: EventEnvelope<ComplaintReceived>, _ body: String) async throws -> HTTPReply {
                try await plainRequest(
                    .PUT, base + "/v1/complaints/\(event.data.complaintID.lowercasedString)/classification", key: manager, body: body,
                    contentType: "application/json")
            }
            let producer = try KafkaProducer(configuration: kafka.producerConfiguration(), logger: kafka.logger)
            let consumer = try KafkaConsumer(configuration: kafka.consumerConfiguration(topics: [output.name]), logger: kafka.logger)
            try await withRunningServices([producer, consumer]) {
                func next() async throws -> EventEnvelope<ComplaintClassified> {
                    try output.decode(Array(try #require(try await consumer.collect(1).first).value.readableBytesView))
                }
                func correct(_ event: EventEnvelope<ComplaintReceived>, _ category: String, _ severity: String) async throws -> ComplaintClassified {
                    let reply = try await put(event, #"{"category":"\#(category)","severity":"\#(severity)","reason":"checked"}"#)
                    #expect(reply.status == 200, "\(reply.body)")
                    let corrected = try await next()
                    #expect(corrected.data.complaintID == event.data.complaintID && corrected.data.category.rawValue == category)
                    return corrected.data
                }
                for event in events {
                    _ = try await producer.sendAndAwait(KafkaProducerMessage(
                        topic: input.name, key: ByteBuffer(string: event.data.complaintID.lowercasedString),
                        value: ByteBuffer(bytes: try input.encode(event))))
                }
                // One batch may carry several verdicts: collect them together.
                let automatic = try await consumer.collect(events.count).map { try output.decode(Array($0.value.readableBytesView)) }
                func verdict(_ event: EventEnvelope<ComplaintReceived>) throws -> ComplaintClassified {
                    try #require(automatic.first { $0.data.complaintID == event.data.complaintID }).data
                }
                for event in [plainEN, plainZH, cueEN, cueZH] {
                    let automaticVerdict = try verdict(event)
                    try #require(automaticVerdict.category == .safetySecurity && automaticVerdict.flags.involvesSafety, "\(automaticVerdict)")
                    let hasCue = !SeverityPolicy.safetyCues(in: automaticVerdict.explanation.matchedRules, rules: Repository.engine.rules).isEmpty
                    try #require(hasCue == [cueEN, cueZH].contains { $0.data.complaintID == event.data.complaintID }, "\(event.data.text): \(automaticVerdict.explanation.matchedRules)")
                }
                let automaticSparks = try verdict(sparks)
                try #require(automaticSparks.category != .safetySecurity && automaticSparks.flags.involvesSafety, "\(automaticSparks)")

                // Not a theft after all: the wallet was in the car. Nothing about safety is left.
                let cleared = try await correct(plainEN, "other", "minor")
                #expect(!cleared.flags.involvesSafety)
                #expect(cleared.priority == 4)
                #expect(cleared.explanation.matchedRules == ["staff_correction"])
                let clearedZH = try await correct(plainZH, "noise", "minor")
                #expect(!clearedZH.flags.involvesSafety)

                // A theft the text reports with a safety cue keeps the flag on another category, as the same
                // text classified `other` would; and again on a second correction of the staff verdict.
                for event in [cueEN, cueZH] {
                    let kept = try await correct(event, "other", "minor")
                    #expect(kept.flags.involvesSafety, "\(event.data.text)")
                    #expect(kept.priority == 3, "\(event.data.text)")
                    #expect(kept.explanation.matchedRules == ["staff_correction", "security_threat"], "\(kept.explanation.matchedRules)")
                    let again = try await correct(event, "front_desk", "moderate")
                    #expect(again.flags.involvesSafety, "\(event.data.text)")
                }

                // A sparking switch corrected to moderate maintenance keeps the flag its safety cue set.
                let kept = try await correct(sparks, "maintenance", "moderate")
                #expect(kept.flags.involvesSafety)
                #expect(kept.priority == 1)
            }
        }
    }
}
