import Access
import ComplaintEvents
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import Intake
import Logging
import NIOCore
import NIOHTTP1
@testable import Notifier
import PostgresNIO
import RdKafka
import RdKafkaTestKit
import Testing

/// The notifier stage on the embedded cluster and PostgreSQL with a real intake beside it (guest contact
/// details come from intake's API), a real SMTP server and a local receiver for robots and webhooks:
/// a complaint posted to intake and the assignment and clock events that follow reach the guest, the
/// assignee, the duty manager, the robot group and the integrator, each once, each with a receipt.
@Suite("Notifier stage end to end", .timeLimit(.minutes(3)))
struct NotifierStageTests {
    static let hotel = "SHA-PD01"
    static let surveySecret = "survey-secret-for-tests-0123"

    static func rulesYAML(receiver: String) -> String {
        """
        hotels:
          SHA-PD01: {name: 瑞德斯上海浦东酒店, language: zh-CN, timeZone: Asia/Shanghai, staffEmail: "{staffId}@pd.example", robots: [group]}
        links:
          survey: "https://guest.example/survey/{token}"
        endpoints:
          group: {channel: wecom, url: "\(receiver)/wecom"}
          hook: {channel: webhook, url: "\(receiver)/hook", secret: whsec_stage}
        rules:
          - {name: guest-registered, on: [received], to: [guest], channels: [email], template: complaint_received_guest}
          - {name: assignee-new, on: [assigned.initial], to: [assignee], template: complaint_assigned_staff}
          - {name: escalation, on: [assigned.escalation], to: [assignee, robots], template: complaint_escalated_staff}
          - {name: survey, on: [sla.followup_due], to: [guest], template: followup_survey_guest}
          - {name: breach-hook, on: [sla.breached], to: ["endpoint:hook"], template: sla_breached_staff}
        """
    }

    static func publish<Payload>(_ events: [EventEnvelope<Payload>], on topic: Topic<Payload>, kafka: KafkaTestEnvironment) async throws {
        let producer = try KafkaProducer(configuration: kafka.producerConfiguration(), logger: kafka.logger)
        try await withRunningServices([producer]) {
            for event in events {
                _ = try await producer.sendAndAwait(KafkaProducerMessage(
                    topic: topic.name, key: topic.key(for: event).map { ByteBuffer(bytes: $0) }, value: ByteBuffer(bytes: try topic.encode(event))))
            }
        }
    }

    @Test("registered → assigned → escalated → follow-up survey → breach: every recipient told once, in zh-CN, with receipts")
    func wholeStage() async throws {
        let kafka = try KafkaTestEnvironment()
        let prefix = "t\(UUID().uuidString.prefix(8).lowercased())."
        let intakeTopics = IntakeTopics().prefixed(prefix)
        for name in [intakeTopics.submitted.name, intakeTopics.received.name, intakeTopics.updated.name, intakeTopics.classified.name,
                     intakeTopics.assigned.name, intakeTopics.deadLetter.name] {
            try await kafka.createTopic(name, partitions: 1)
        }
        var topics = NotifierService.Topics()
        topics.received = intakeTopics.received
        topics.assigned = intakeTopics.assigned
        topics.updated = intakeTopics.updated
        topics.sla = topics.sla.renamed(try await kafka.makeTopic(prefix: "sla", partitions: 1))
        topics.notifications = topics.notifications.renamed(try await kafka.makeTopic(prefix: "notifications", partitions: 1))
        let stageTopics = topics

        let database = try await TestDatabase.shared.configuration()
        let settings = ServiceSettings.forTests(kafkaBrokers: kafka.bootstrapServers, databaseURL: database.url)
        let intakeService = RedressService.intake.isolated()
        var intakeConfiguration = IntakeConfiguration(guestKeySecret: "test-guest-key-secret-0123456789")
        intakeConfiguration.topics = intakeTopics
        intakeConfiguration.surveySecret = Self.surveySecret
        let intake = IntakeService.runtime(service: intakeService, settings: settings, configuration: intakeConfiguration, logger: .complaintTest)

        let sink = try await SMTPSink()
        defer { sink.stop() }
        let receiver = RecordingReceiver()
        let notifierService = RedressService.notifier.isolated()

        try await withClient(database) { client in
          do {
            try await withLoopbackServer(receiver.router) { receiverBase in
                try await withRunningStage(intake) { intakeBase in
                    let keys = APIKeyStore(cacheLifetime: .zero)
                    let admin = try await keys.create(name: "stage-admin", role: .admin, hotels: [], client: client, logger: .complaintTest).key.description
                    // The notifier's own key: staff, this hotel only.
                    let notifierKey = try await keys.create(name: "notifier", role: .staff, hotels: [Self.hotel], client: client, logger: .complaintTest).key.description

                    let rules = try NotifierFixtures.rules(Self.rulesYAML(receiver: receiverBase))
                    let email = EmailChannel(
                        client: SMTPClient(configuration: SMTPClient.Configuration(host: "127.0.0.1", port: sink.port, tls: .opportunistic, timeout: .seconds(10))),
                        sender: MailAddress("notify@pd.example", name: "Redress"), messageIDDomain: "pd.example")
                    var runtime = NotifierService.makeRuntime(
                        service: notifierService, settings: settings,
                        delivery: NotifierService.Delivery(
                            rules: LiveConfiguration(name: "rules", fixed: rules), templates: try NotifierFixtures.templates(),
                            channels: [email, WebhookChannel(), RobotChannel()],
                            guests: IntakeGuestContacts(baseURL: intakeBase, apiKey: notifierKey), surveySecret: Self.surveySecret),
                        topics: stageTopics, logger: .complaintTest)
                    runtime.deadLetterTopic = try await kafka.makeTopic(prefix: "deadletter", partitions: 1)
                    runtime.workerConfiguration.pollInterval = .milliseconds(200)

                    try await withRunningStage(runtime) { _ in
                        // 1. A guest's complaint at intake → the guest hears, in their language, at their address.
                        // Reported an hour ago: a complaint reported longer ago than guestMessages.maximumAge (72 h) sends its guest nothing.
                        let reported = EventTimestamp.string(from: Date().addingTimeInterval(-3_600))
                        let submitted = try await plainRequest(.POST, intakeBase + "/v1/complaints", key: admin, body: """
                            {"hotelId":"SHA-PD01","source":"opera_pms","externalId":"\(UUID().uuidString)","channel":"front_desk",
                             "reportedAt":"\(reported)","text":"1208房间的空调不制冷，房间很热。","language":"zh-CN",
                             "guest":{"name":"李伟","roomNumber":"1208","email":"li.wei@example.com","preferredLanguage":"zh-CN","preferredContact":"email"},
                             "reporter":{"kind":"staff","id":"fd-01","name":"Front desk"}}
                            """)
                        #expect(submitted.status == 202 || submitted.status == 201, "\(submitted.body)")
                        let complaintID = try #require(UUID(uuidString: submitted.json["id"] as? String ?? ""))
                        let registered = try #require(await sink.waitFor(1).first)
                        #expect(registered.envelopeTo == ["li.wei@example.com"])
                        #expect(registered.decodedHeader("Subject")?.hasPrefix("我们已收到您的反馈") == true)
                        #expect(registered.part("text/plain")?.hasPrefix("尊敬的李伟：") == true)

                        // 2. Assigned (twice: a redelivered event tells nobody twice), then escalated to the duty manager.
                        let now = Date()
                        let assigned = EventEnvelope(source: "/redress/assignment", time: now, hotelID: Self.hotel, data: ComplaintAssigned(
                            complaintID: complaintID, assignedAt: now, registeredAt: now, category: .maintenance, severity: .serious, priority: 1,
                            department: "engineering", assignee: Assignee(staffID: "SHA-EN-002", name: "王磊", role: .staff), strategy: "least_loaded",
                            reason: .initial, escalationLevel: 0))
                        let escalated = EventEnvelope(source: "/redress/assignment", time: now, hotelID: Self.hotel, data: ComplaintAssigned(
                            complaintID: complaintID, assignedAt: now, registeredAt: now, category: .maintenance, severity: .serious, priority: 1,
                            department: "engineering", assignee: Assignee(staffID: "SHA-DM-001", name: "赵敏", role: .dutyManager), strategy: "escalation",
                            reason: .escalation, escalationLevel: 1))
                        try await Self.publish([assigned, assigned, escalated], on: stageTopics.assigned, kafka: kafka)

                        // 3. Resolved at intake (a survey is sent only while the complaint is resolved), then clock
                        // events: the follow-up survey for the guest, a breach for the integrator.
                        for (action, body) in [("acknowledge", nil), ("resolve", #"{"text":"更换了空调压缩机","rootCause":"hvac_failure","firstContact":false}"#)] {
                            let reply = try await plainRequest(.POST, intakeBase + "/v1/complaints/\(complaintID.uuidString.lowercased())/\(action)", key: admin, body: body)
                            #expect(reply.status == 200, "\(action): \(reply.body)")
                        }
                        let followUp = EventEnvelope(source: "/redress/sla-watcher", time: now, hotelID: Self.hotel, data: ComplaintSLAEvent(
                            complaintID: complaintID, milestone: .followUpDue, target: .followup, severity: .serious, deadline: now, occurredAt: now))
                        let breached = EventEnvelope(source: "/redress/sla-watcher", time: now, hotelID: Self.hotel, data: ComplaintSLAEvent(
                            complaintID: complaintID, milestone: .breached, target: .resolve, severity: .serious, deadline: now, occurredAt: now))
                        try await Self.publish([followUp, breached, breached], on: stageTopics.sla, kafka: kafka)

                        let mails = await sink.waitFor(4)
                        #expect(mails.count == 4)
                        let byRecipient = Dictionary(grouping: mails, by: { $0.envelopeTo.first ?? "" })
                        #expect(byRecipient["sha-en-002@pd.example"]?.count == 1)
                        #expect(byRecipient["sha-dm-001@pd.example"]?.count == 1)
                        #expect(byRecipient["li.wei@example.com"]?.count == 2)
                        let staffMail = try #require(byRecipient["sha-en-002@pd.example"]?.first)
                        #expect(staffMail.decodedHeader("Subject")?.contains("已分派给您") == true)
                        #expect(staffMail.part("text/plain")?.contains("/v1/complaints/\(complaintID.uuidString.lowercased())") == true)
                        let escalationMail = try #require(byRecipient["sha-dm-001@pd.example"]?.first)
                        #expect(escalationMail.decodedHeader("Subject")?.hasPrefix("投诉升级至第1级") == true)

                        // The survey link carries a token intake can verify: this complaint, expiring in days.
                        let survey = try #require(byRecipient["li.wei@example.com"]?.first { $0.decodedHeader("Subject")?.contains("满意") == true })
                        let text = try #require(survey.part("text/plain"))
                        let link = try #require(text.split(separator: "\n").first { $0.hasPrefix("https://guest.example/survey/") })
                        let token = try SurveyToken(verifying: String(link.dropFirst("https://guest.example/survey/".count)), secret: Self.surveySecret)
                        #expect(token.complaintID == complaintID)
                        #expect(token.expiresAt > Date().addingTimeInterval(6 * 86_400))
                        // It names the resolution intake recorded, and intake's survey page takes it.
                        #expect(token.resolvedAt != nil)
                        let page = try await plainRequest(.GET, intakeBase + "/survey/\(token)", key: nil)
                        #expect(page.status == 200 && page.body.contains("id=\"survey\""), "\(page.status) \(page.body)")
                        #expect(!text.contains("王磊") && !text.contains("engineering"))

                        // Robots and the integrator.
                        let requests = await receiver.waitFor(2)
                        #expect(requests.map(\.path).sorted() == ["/hook", "/wecom"])

                        // One receipt per notification, all delivered, on notifications.delivered.v1.
                        let consumer = try KafkaConsumer(configuration: kafka.consumerConfiguration(topics: [stageTopics.notifications.name]), logger: kafka.logger)
                        let messages = try await withRunningServices([consumer]) { try await consumer.collect(6) }
                        let receipts = try messages.map { try stageTopics.notifications.decode(Array($0.value.readableBytesView)).data }
                        #expect(receipts.count == 6)
                        #expect(receipts.allSatisfy { $0.kind == .delivered && $0.complaintID == complaintID })
                        #expect(Set(receipts.map(\.notificationID)).count == 6)
                        #expect(Set(receipts.map(\.channel)) == [.email, .wecom, .webhook])
                        #expect(receipts.filter { $0.recipient.kind == .guest }.count == 2)
                        #expect(receipts.allSatisfy { $0.language == "zh-CN" })

                        // Nothing more arrives: the duplicates recorded no second intent.
                        try await Task.sleep(for: .milliseconds(500))
                        #expect(sink.messages.count == 4)
                        #expect(receiver.requests.count == 2)
                        let planned = try await client.query(
                            PostgresQuery(unsafeSQL: "SELECT count(*) FILTER (WHERE status = 'delivered')::int + 100 * count(*) FILTER (WHERE status <> 'delivered')::int FROM \(notifierService.schema).deliveries"),
                            logger: .complaintTest).collect().first?.decode(Int.self)
                        #expect(planned == 6, "six deliveries, all delivered")
                        // The stage's pacer keeps the robot's window in the schema, where other replicas see it.
                        let places = try await client.query(
                            PostgresQuery(unsafeSQL: "SELECT count(*)::int FROM \(notifierService.schema).endpoint_places WHERE endpoint = 'group'"),
                            logger: .complaintTest).collect().first?.decode(Int.self)
                        // One a call: more if the robot's first attempt failed and was retried.
                        #expect((places ?? 0) >= 1, "the robot's call took its place in the shared log")
                    }
                }
            }
            try await dropSchema(intakeService.schema, client: client)
            try await dropSchema(notifierService.schema, client: client)
          } catch {
            try? await dropSchema(intakeService.schema, client: client)
            try? await dropSchema(notifierService.schema, client: client)
            throw error
          }
        }
    }
}
