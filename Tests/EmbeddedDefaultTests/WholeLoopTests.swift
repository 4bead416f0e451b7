import ComplaintEvents
import ComplaintTesting
import EventTail
import Foundation
import NIOCore
import NIOHTTP1
import RdKafka
import RdKafkaTestKit
import Testing

extension RedressUpTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The shipped file with `replacing` swapped in, written to a temporary file.
    static func variant(of file: String, _ replacing: [(String, String)]) throws -> URL {
        var text = try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)
        for (old, new) in replacing {
            let changed = text.replacingOccurrences(of: old, with: new)
            #expect(changed != text, "\(old) not in \(file)")
            text = changed
        }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("loop-\(UUID().uuidString.prefix(8))-" + URL(fileURLWithPath: file).lastPathComponent)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    @Test("the whole loop across real processes: one complaint over HTTP, one on Kafka, each registered → classified → assigned → acknowledged in time → resolved → survey → closed, mailed to the local SMTP server and counted in the KPIs")
    func wholeLoop() async throws {
        let mail = try await SMTPSink()
        defer { mail.stop() }
        // The follow-up survey comes 6 seconds after the resolution instead of a day; guest messages are
        // not held back for the hotels' quiet hours (the test runs at any hour).
        let policies = try Self.variant(of: "services/sla-watcher/policies.yaml", [("followUp: 24h", "followUp: 6s")])
        let rules = try Self.variant(of: "services/notifier/rules.yaml", [
            (#"    quietHours: "22:00-08:00"\#n"#, ""), (#"    quietHours: "21:30-08:00"\#n"#, ""),
        ])
        defer {
            try? FileManager.default.removeItem(at: policies)
            try? FileManager.default.removeItem(at: rules)
        }
        let up = try await UpProcess(environment: [
            "SLA_POLICY_FILE": policies.path, "NOTIFIER_RULES_FILE": rules.path,
            "SMTP_HOST": "127.0.0.1", "SMTP_PORT": String(mail.port), "SMTP_TLS": "off",
        ])
        #expect(up.banner.contains("Redress is up"), "\(up.banner)")
        let intake = try #require(up.variables["INTAKE_URL"])
        let metrics = try #require(up.variables["METRICS_URL"], "metrics not built")
        let brokers = KafkaBootstrap.servers(from: try #require(up.variables["KAFKA_BROKERS"]))
        let admin = try #require(up.variables["REDRESS_ADMIN_KEY"])
        try #require(up.variables["NOTIFIER_URL"] != nil && up.variables["SLA_WATCHER_URL"] != nil, "services not built")
        #expect(try await up.waitUntilReady(), "the services did not become ready")
        let run = UUID().uuidString.prefix(8).lowercased()

        // One complaint through intake's HTTP door (Shanghai, Chinese) …
        let chineseGuest = "li.\(run)@example.com"
        // Reported an hour ago: guest messages about a complaint older than guestMessages.maximumAge (72 h) are not sent.
        let reportedAt = ISO8601DateFormatter().string(from: Date().addingTimeInterval(-3600))
        let posted = try await plainRequest(.POST, intake + "/v1/complaints", key: admin, body: """
            {"hotelId":"SHA-PD01","source":"front_desk_app","externalId":"loop-\(run)","channel":"front_desk",
             "reportedAt":"\(reportedAt)","text":"1208房间的空调不制冷，房间很热，一晚上没睡好。","language":"zh-CN",
             "guest":{"name":"李伟","roomNumber":"1208","email":"\(chineseGuest)","preferredLanguage":"zh-CN","preferredContact":"email"},
             "reporter":{"kind":"staff","id":"fd-01","name":"Front desk"}}
            """)
        try #require(posted.status == 201, "\(posted.body)")
        let httpID = try #require(posted.json["id"] as? String)

        // … and one published on complaints.submitted.v1 by another system (London, English).
        let englishGuest = "emma.\(run)@example.co.uk"
        let externalID = "OPERA-LON-\(run)"
        var event = try JSONSerialization.jsonObject(
            with: Data(contentsOf: Self.root.appendingPathComponent("schemas/examples/complaint-submitted.v1.en.json"))) as! [String: Any]
        var data = event["data"] as! [String: Any]
        var guest = data["guest"] as! [String: Any]
        guest["email"] = englishGuest
        guest["phone"] = nil
        guest["preferredContact"] = "email"
        data["guest"] = guest
        data["externalId"] = externalID
        data["reportedAt"] = reportedAt
        event["data"] = data
        event["id"] = UUID().uuidString.lowercased()
        event["subject"] = externalID
        event["time"] = ISO8601DateFormatter().string(from: Date())
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: brokers, clientID: "loop-test"), logger: .kafkaTest)
        try await withRunningServices([producer]) {
            _ = try await producer.sendAndAwait(KafkaProducerMessage(
                topic: Topics.submitted.name, key: Array(externalID.utf8), value: Array(try JSONSerialization.data(withJSONObject: event))))
        }
        // The publisher finds its complaint by its own id.
        var kafkaID = ""
        let found = await eventually(timeout: .seconds(60)) {
            let page = try? await plainRequest(.GET, intake + "/v1/complaints?source=opera_pms&externalId=\(externalID)", key: admin)
            kafkaID = ((page?.json["items"] as? [[String: Any]])?.first?["id"] as? String) ?? ""
            return !kafkaID.isEmpty
        }
        try #require(found, "the complaint published on Kafka was never registered")

        for (id, guestAddress) in [(httpID, chineseGuest), (kafkaID, englishGuest)] {
            func record() async throws -> [String: Any] { try await plainRequest(.GET, intake + "/v1/complaints/\(id)", key: admin).json }
            // Classified and assigned to someone on shift.
            let assigned = await eventually(timeout: .seconds(60)) { ((try? await record())?["assignee"] as? [String: Any])?["staffId"] != nil }
            let classified = try await record()
            try #require(assigned, "\(id) was never assigned: \(classified)")
            #expect(classified["category"] as? String != nil && classified["severity"] as? String != nil)
            // Staff acknowledge (the clock has started: the SLA watcher saw the assignment) and resolve.
            #expect(await eventually { await Self.slaKinds(of: id, brokers: brokers).contains("timer_started") })
            #expect(try await plainRequest(.POST, intake + "/v1/complaints/\(id)/acknowledge", key: admin).status == 200)
            let resolved = try await plainRequest(.POST, intake + "/v1/complaints/\(id)/resolve", key: admin, body: """
                {"text":"Engineering fixed it and the guest confirmed.","rootCause":"hvac_failure","firstContact":true}
                """)
            #expect(resolved.status == 200, "\(resolved.body)")

            // The follow-up comes due and the survey link reaches the guest's mailbox.
            var survey: String?
            let mailed = await eventually(timeout: .seconds(60)) {
                for message in mail.messages where message.envelopeTo.contains(guestAddress) {
                    let text = message.part("text/plain") ?? ""
                    if let range = text.range(of: #"http://127\.0\.0\.1:8081/survey/[A-Za-z0-9._~-]+"#, options: .regularExpression) {
                        survey = String(text[range])
                        return true
                    }
                }
                return false
            }
            try #require(mailed, "no survey mail to \(guestAddress); mailbox: \(mail.messages.flatMap(\.envelopeTo))")
            // The guest answers (happy), and staff close the complaint.
            let answered = try await plainRequest(
                .POST, try #require(survey), key: nil, body: "satisfaction=5&recommend=10&comment=thank+you",
                contentType: "application/x-www-form-urlencoded")
            #expect(answered.status == 200, "\(answered.body.prefix(300))")
            #expect(try await plainRequest(.POST, intake + "/v1/complaints/\(id)/close", key: admin).status == 200)
            #expect(try await record()["status"] as? String == "closed")

            // The clocks as the SLA watcher told them; what the notifier delivered.
            let kinds = await Self.slaKinds(of: id, brokers: brokers)
            for kind in ["timer_started", "met", "followup_due"] { #expect(kinds.contains(kind), "\(id): no \(kind) in \(kinds)") }
            #expect(!kinds.contains("breached"), "\(id): \(kinds)")
            let delivered = await Self.delivered(to: id, brokers: brokers)
            #expect(delivered.contains("complaint_received_guest") && delivered.contains("complaint_resolved_guest")
                && delivered.contains("followup_survey_guest"), "\(id): \(delivered)")
            #expect(mail.messages.filter { $0.envelopeTo.contains(guestAddress) }.count >= 3)
        }

        // The KPIs of both hotels reflect them: one complaint each, acknowledged in time, a delighted guest.
        let today = ISO8601DateFormatter.string(from: Date(), timeZone: TimeZone(identifier: "UTC")!, formatOptions: [.withFullDate])
        let yesterday = ISO8601DateFormatter.string(from: Date().addingTimeInterval(-86_400), timeZone: TimeZone(identifier: "UTC")!, formatOptions: [.withFullDate])
        let tomorrow = ISO8601DateFormatter.string(from: Date().addingTimeInterval(86_400), timeZone: TimeZone(identifier: "UTC")!, formatOptions: [.withFullDate])
        #expect(!today.isEmpty)
        for hotel in ["SHA-PD01", "LON-KX02"] {
            var totals: [String: Any] = [:]
            let counted = await eventually {
                let reply = try? await plainRequest(.GET, metrics + "/v1/kpis?hotel=\(hotel)&from=\(yesterday)&to=\(tomorrow)", key: admin)
                totals = reply?.json["totals"] as? [String: Any] ?? [:]
                let acknowledged = totals["acknowledgeSLA"] as? [String: Any]
                let satisfaction = totals["satisfaction"] as? [String: Any]
                return totals["volume"] as? Int == 1 && acknowledged?["met"] as? Int == 1 && satisfaction?["responses"] as? Int == 1
            }
            #expect(counted, "\(hotel): \(totals)")
        }

        #expect(await up.stop() == 0)
        #expect(!up.leftSurvivors, "processes of \(up.folder.path) survived")
    }

    /// The clock events of one complaint so far.
    static func slaKinds(of id: String, brokers: [String]) async -> [String] {
        var kinds: [String] = []
        _ = try? await HistoryReader(brokers: brokers, topics: [Topics.sla.name]).read(logger: .kafkaTest) { message in
            if let event = try? Topics.sla.decode(Array(message.value.readableBytesView)), event.data.complaintID.lowercasedString == id {
                kinds.append(event.data.kind.rawValue)
            }
        }
        return kinds
    }

    /// The templates delivered for one complaint so far.
    static func delivered(to id: String, brokers: [String]) async -> [String] {
        var templates: [String] = []
        _ = try? await HistoryReader(brokers: brokers, topics: [Topics.notifications.name]).read(logger: .kafkaTest) { message in
            if let event = try? Topics.notifications.decode(Array(message.value.readableBytesView)),
                event.data.complaintID.lowercasedString == id, event.data.kind.rawValue == "delivered"
            {
                templates.append(event.data.template)
            }
        }
        return templates
    }
}
