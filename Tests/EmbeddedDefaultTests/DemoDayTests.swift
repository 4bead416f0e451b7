import ComplaintEvents
import ComplaintTesting
import EventTail
import Foundation
import Logging
import NIOCore
import RdKafka
import Testing

extension RedressUpTests {
    @Test("the demo day plays through at 1440×: 26 complaints on both doors assigned, staff actions, breaches escalated, unhappy guests reopened, mail and webhooks delivered",
          .timeLimit(.minutes(6)))
    func demoDay() async throws {
        // Guest messages are not held back for the hotels' quiet hours (the test runs at any hour).
        let rules = try Self.variant(of: "services/notifier/rules.yaml", [
            (#"    quietHours: "22:00-08:00"\#n"#, ""), (#"    quietHours: "21:30-08:00"\#n"#, ""),
        ])
        defer { try? FileManager.default.removeItem(at: rules) }
        let up = try await UpProcess(arguments: ["--demo", "--speed", "1440"], environment: ["NOTIFIER_RULES_FILE": rules.path])
        #expect(up.banner.contains("Redress is up"), "\(up.banner)")
        try #require(up.variables["NOTIFIER_URL"] != nil && up.variables["METRICS_URL"] != nil, "services not built")
        // A simulated day and the follow-ups of its last complaints: about two minutes.
        let over = await up.waitForOutput("the demo day is over", timeout: .seconds(300))
        // Everything it printed: the banner, then the rest.
        let printed = up.banner + up.output
        let brokers = KafkaBootstrap.servers(from: try #require(up.variables["KAFKA_BROKERS"]))
        defer {
            #expect(up.stopNow() == 0)
            #expect(!up.leftSurvivors)
        }
        try #require(over, "the demo day did not finish:\n\(printed.suffix(3000))")
        let lines = printed.split(separator: "\n").filter { $0.hasPrefix("demo: ") }
        func count(_ text: String) -> Int { lines.filter { $0.contains(text) }.count }
        #expect(!lines.contains { $0.hasPrefix("demo: scene ") }, "a scene failed:\n\(lines.filter { $0.hasPrefix("demo: scene ") }.joined(separator: "\n"))")
        #expect(count("arrives through HTTP") == 17)
        #expect(count("arrives through Kafka") == 9)
        #expect(count(" assigned to ") == 26)
        #expect(count("acknowledged") >= 20)
        #expect(count("waits for the guest") >= 1)
        #expect(count(" compensation ") == 4)
        #expect(count("guest answered the survey: 2/5") >= 1)
        #expect(count("resolved again after the unhappy answer") >= 1)
        #expect(count(" closed") >= 1)

        // The topics tell the same story: complaints escalated, reopened after an unhappy answer.
        var escalated = 0, reopened = 0, compensations = 0
        let reader = HistoryReader(brokers: brokers, topics: [Topics.sla.name, Topics.updated.name])
        _ = try await reader.read(logger: .init(label: "demo-day-test")) { message in
            let bytes = Array(message.value.readableBytesView)
            if message.topic == Topics.sla.name, case .escalated = try Topics.sla.decode(bytes).data.milestone { escalated += 1 }
            if message.topic == Topics.updated.name {
                switch try Topics.updated.decode(bytes).data.change {
                case .reopened: reopened += 1
                case .compensationApproved: compensations += 1
                default: break
                }
            }
        }
        #expect(escalated >= 3, "the three complaints nobody acknowledges escalate")
        #expect(reopened >= 1)
        #expect(compensations >= 1)

        // The sinks received what the notifier sent.
        let mailbox = up.folder.appendingPathComponent("mailbox")
        let mails = try FileManager.default.contentsOfDirectory(atPath: mailbox.path).filter { $0.hasSuffix(".eml") }
        #expect(mails.count >= 10, "\(mails.count) mails")
        let webhooks = (try? String(contentsOf: up.folder.appendingPathComponent("webhooks.jsonl"), encoding: .utf8)) ?? ""
        #expect(webhooks.split(separator: "\n").count >= 1)
    }
}
