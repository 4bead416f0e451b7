import ComplaintPipeline
import Access
import ComplaintEvents
import ComplaintTesting
import Foundation
import Intake
import NIOCore
import NIOHTTP1
import RdKafka
import RdKafkaTestKit
import Testing

@Suite("The Kafka door and the followers of classified and assigned events", .timeLimit(.minutes(3)))
struct KafkaDoorTests {
    @Test("valid, duplicate and invalid submitted events: registered once, invalid ones dead-lettered with the reason")
    func submittedEvents() async throws {
        try await IntakeHarness.run { harness in
            var event = try EventFixtures.example("complaint-submitted.v1.zh.json", on: Topics.submitted)
            let externalID = "wx-\(UUID().uuidString.prefix(8).lowercased())"
            event.data.externalID = externalID
            let valid = try harness.topics.submitted.encode(event)
            var redelivered = event
            redelivered.id = UUID()  // the same complaint published again as a new event
            // The envelope's hotelid contradicts the data: the contract's decoder refuses it.
            let validText = String(decoding: valid, as: UTF8.self)
            let wrongHotel = validText.replacingOccurrences(of: #""hotelid":"SHA-PD01""#, with: #""hotelid":"BJS-CY02""#)
                .replacingOccurrences(of: #""hotelid": "SHA-PD01""#, with: #""hotelid": "BJS-CY02""#)
            #expect(wrongHotel.contains("BJS-CY02"))
            let longRoom = String(decoding: valid, as: UTF8.self).replacingOccurrences(of: #""roomNumber": "1208""#, with: #""roomNumber": "12345678901234567""#)
                .replacingOccurrences(of: #""roomNumber":"1208""#, with: #""roomNumber":"12345678901234567""#)
            #expect(longRoom.contains("12345678901234567"))

            let producer = try KafkaProducer(configuration: harness.kafka.producerConfiguration(), logger: harness.kafka.logger)
            try await withRunningServices([producer]) {
                for value in [valid, valid, try harness.topics.submitted.encode(redelivered), Array("{not json".utf8),
                              Array(longRoom.utf8), Array(wrongHotel.utf8)] {
                    _ = try await producer.sendAndAwait(KafkaProducerMessage(
                        topic: harness.topics.submitted.name, key: ByteBuffer(string: externalID), value: ByteBuffer(bytes: value)))
                }
            }
            let letters = try await harness.consume(harness.topics.deadLetter.name, count: 3)
            let reasons = try letters.map { try harness.topics.deadLetter.decode(Array($0.value.readableBytesView)).data.reason }
            #expect(reasons.contains { $0.contains("JSON") || $0.contains("json") }, "\(reasons)")
            #expect(reasons.contains("data.guest.roomNumber: longer than 16 characters"), "\(reasons)")
            #expect(reasons.contains { $0.contains("hotelid") }, "\(reasons)")

            let registered = await eventually { (try? await harness.complaintCount(externalID: externalID)) == 1 }
            #expect(registered)
            let received = try await harness.consume(harness.topics.received.name, count: 1)
            #expect(try harness.topics.received.decode(Array(received[0].value.readableBytesView)).data.externalID == externalID)
            // Still exactly one after everything was processed.
            #expect(try await harness.complaintCount(externalID: externalID) == 1)
        }
    }

    @Test("a submission whose record is older than the inbox horizon is registered, and once only when it comes again")
    func oldSubmissions() async throws {
        // A horizon of zero makes every record older than it, as the 9-day default does to a record a
        // connector stamped with the complaint's reportedAt, a backfill's, or one read after a long lag.
        try await IntakeHarness.run(settings: { $0.inboxRetention = .zero }) { harness in
            var event = try EventFixtures.example("complaint-submitted.v1.zh.json", on: Topics.submitted)
            let externalID = "old-\(UUID().uuidString.prefix(8).lowercased())"
            event.data.externalID = externalID
            var republished = event
            republished.id = UUID()  // the same complaint published again as a new event
            var later = event
            later.id = UUID()
            later.data.externalID = externalID + "-later"
            let producer = try KafkaProducer(configuration: harness.kafka.producerConfiguration(), logger: harness.kafka.logger)
            try await withRunningServices([producer]) {
                // One key: one partition, applied in order.
                @Sendable func send(_ event: EventEnvelope<ComplaintSubmitted>) async throws {
                    _ = try await producer.sendAndAwait(KafkaProducerMessage(
                        topic: harness.topics.submitted.name, key: ByteBuffer(string: externalID),
                        value: ByteBuffer(bytes: try harness.topics.submitted.encode(event))))
                }
                try await send(event)
                let registered = await eventually { (try? await harness.complaintCount(externalID: externalID)) == 1 }
                #expect(registered, "an old submission is registered, not passed over")
                // Its inbox mark purged, as retention does past the horizon: delivered again, and published
                // again under a new event id, only the registrar can tell it is the same complaint.
                try await harness.forgetProcessedEvents()
                try await send(event)
                try await send(republished)
                try await send(later)
                let followed = await eventually { (try? await harness.complaintCount(externalID: later.data.externalID)) == 1 }
                #expect(followed)
            }
            #expect(try await harness.complaintCount(externalID: externalID) == 1)
            let received = try await harness.consume(harness.topics.received.name, count: 2)
            let externalIDs = try received.map { try harness.topics.received.decode(Array($0.value.readableBytesView)).data.externalID }
            #expect(externalIDs.sorted() == [externalID, later.data.externalID].sorted())
        }
    }

    @Test("classified and assigned events update status, category, severity and assignee")
    func followsProgress() async throws {
        try await IntakeHarness.run { harness in
            let (_, id) = try await harness.submit(IntakeHarness.submission())
            let complaintID = try #require(UUID(uuidString: id))
            var classified = try EventFixtures.classified(complaintID: complaintID)
            classified.data.category = .maintenance
            classified.data.severity = .serious
            var assigned = try EventFixtures.example("complaint-assigned.v1.en.json", on: Topics.assigned)
            assigned.data.complaintID = complaintID
            let producer = try KafkaProducer(configuration: harness.kafka.producerConfiguration(), logger: harness.kafka.logger)
            try await withRunningServices([producer]) {
                _ = try await producer.sendAndAwait(KafkaProducerMessage(
                    topic: harness.topics.classified.name, key: ByteBuffer(string: id), value: ByteBuffer(bytes: try harness.topics.classified.encode(classified))))
                let wasClassified = try await eventually {
                    try await harness.request(.GET, "/v1/complaints/\(id)", key: harness.admin).json["status"] as? String == "classified"
                }
                #expect(wasClassified)
                _ = try await producer.sendAndAwait(KafkaProducerMessage(
                    topic: harness.topics.assigned.name, key: ByteBuffer(string: id), value: ByteBuffer(bytes: try harness.topics.assigned.encode(assigned))))
            }
            let wasAssigned = try await eventually {
                try await harness.request(.GET, "/v1/complaints/\(id)", key: harness.admin).json["status"] as? String == "assigned"
            }
            #expect(wasAssigned)
            let complaint = try await harness.request(.GET, "/v1/complaints/\(id)", key: harness.admin).json
            #expect(complaint["category"] as? String == "maintenance")
            #expect(complaint["severity"] as? String == "serious")
            #expect(complaint["assigneeId"] as? String == assigned.data.assignee.staffID)
            // The timeline says so, with the status after each step.
            let timeline = try #require(complaint["timeline"] as? [[String: Any]])
            let progress = timeline.filter { ["classified", "assigned"].contains($0["kind"] as? String ?? "") }
            #expect(progress.map { $0["kind"] as? String } == ["classified", "assigned"])
            #expect(progress.map { $0["statusAfter"] as? String } == ["classified", "assigned"])
            #expect((progress.first?["details"] as? [String: Any])?["severity"] as? String == "serious")
            let filtered = try await harness.request(.GET, "/v1/complaints?severity=serious&assignee=\(assigned.data.assignee.staffID)", key: harness.admin)
            #expect((filtered.json["items"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == [id])
        }
    }

    @Test("a manager's correction is on the timeline as classification_corrected by that staff member, with the reason")
    func staffCorrection() async throws {
        try await IntakeHarness.run { harness in
            let (_, id) = try await harness.submit(IntakeHarness.submission())
            let complaintID = try #require(UUID(uuidString: id))
            let verdict = try EventFixtures.classified(complaintID: complaintID)
            // What the classifier's PUT /v1/complaints/{id}/classification publishes (services/classifier/openapi.yaml).
            var corrected = try EventFixtures.classified(complaintID: complaintID)
            corrected.data.classifiedAt = verdict.data.classifiedAt.addingTimeInterval(60)
            corrected.data.category = .safetySecurity
            corrected.data.severity = .serious
            corrected.data.priority = 1
            corrected.data.confidence = 1
            let reason = "guest says: the socket sparked; not a loose cover"
            corrected.data.explanation = ClassificationExplanation(
                classifier: "staff", version: "staff", matchedRules: ["staff_correction"], matchedTerms: [],
                summary: "set by staff dm-wang.li: safety_security, serious; reason: \(reason); the classifier said "
                    + "\(verdict.data.category.rawValue), \(verdict.data.severity.rawValue)")
            let producer = try KafkaProducer(configuration: harness.kafka.producerConfiguration(), logger: harness.kafka.logger)
            try await withRunningServices([producer]) {
                for event in [verdict, corrected] {
                    _ = try await producer.sendAndAwait(KafkaProducerMessage(
                        topic: harness.topics.classified.name, key: ByteBuffer(string: id),
                        value: ByteBuffer(bytes: try harness.topics.classified.encode(event))))
                }
            }
            let both = try await eventually {
                let json = try await harness.request(.GET, "/v1/complaints/\(id)", key: harness.admin).json
                return (json["timeline"] as? [[String: Any]])?.contains { $0["kind"] as? String == "classification_corrected" } == true
            }
            #expect(both)
            let complaint = try await harness.request(.GET, "/v1/complaints/\(id)", key: harness.admin).json
            #expect(complaint["category"] as? String == "safety_security")
            #expect(complaint["severity"] as? String == "serious")
            let timeline = try #require(complaint["timeline"] as? [[String: Any]])
            let entries = timeline.filter { ["classified", "classification_corrected"].contains($0["kind"] as? String ?? "") }
            #expect(entries.map { $0["kind"] as? String } == ["classified", "classification_corrected"])
            // The classifier's own verdict stays the classifier's.
            let automatic = try #require(entries.first?["actor"] as? [String: Any])
            #expect(automatic["id"] as? String == "classifier")
            #expect(automatic["role"] as? String == "system")
            let correction = try #require(entries.last)
            let actor = try #require(correction["actor"] as? [String: Any])
            #expect(actor["id"] as? String == "dm-wang.li")
            #expect(actor["role"] as? String == "staff")
            #expect(correction["statusAfter"] as? String == "classified")
            let details = try #require(correction["details"] as? [String: Any])
            #expect(details["reason"] as? String == reason)
            #expect(details["category"] as? String == "safety_security")
            #expect(details["severity"] as? String == "serious")
            #expect(details["priority"] as? String == "1")
            #expect(details["previousCategory"] as? String == verdict.data.category.rawValue)
            #expect(details["previousSeverity"] as? String == verdict.data.severity.rawValue)
            #expect(details["summary"] as? String == corrected.data.explanation.summary)
        }
    }
}
