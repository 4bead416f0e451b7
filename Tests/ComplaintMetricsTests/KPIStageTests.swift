import Access
import ComplaintEvents
import ComplaintMetrics
import ComplaintTesting
import Foundation
import NIOCore
import RdKafka
import RdKafkaTestKit
import Testing

/// The KPIs end to end: complaint stories published on the topics, applied by the stage, read through
/// `/v1/kpis` — the arithmetic (medians, p90, rates, NPS, spend in several currencies), hotel-local days,
/// redelivery, and tenancy.
@Suite("metrics stage: KPIs", .timeLimit(.minutes(3)))
struct KPIStageTests {
    /// 2026-11-10 00:00 in Shanghai is 2026-11-09T16:00Z.
    static func shanghai(_ day: Int, _ hour: Int, _ minute: Int = 0) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = MetricsHarness.shanghai.timeZone
        return calendar.date(from: DateComponents(year: 2026, month: 11, day: day, hour: hour, minute: minute))!
    }

    /// Four Shanghai complaints over two local days (two of them on a different UTC day than their local
    /// one) and one in London, with every event of #2's reopening and a guest note delivered twice.
    static func stories() throws -> [ComplaintStory] {
        // #1 10 Nov 01:00 local (9 Nov UTC): acknowledged in 5 min, resolved at first contact in 1 h, delighted.
        var first = try ComplaintStory(hotel: "SHA-PD01", registeredAt: shanghai(10, 1), category: .maintenance, guestKey: String(repeating: "a1", count: 32))
        first.acknowledge(after: 300)
        first.clock(.met, .acknowledge, after: 300)
        first.compensate(after: 1000, 10_000, "CNY")
        first.resolve(after: 3600, firstContact: true, rootCause: "hvac_failure")
        first.clock(.met, .resolve, after: 3600)
        first.followUp(after: 90_000, satisfaction: 5, nps: 10)
        // #2 10 Nov 23:30 local, the same guest again: acknowledged late (breach, escalation), resolved in 2 h,
        // reopened, unhappy; compensation in two currencies, and a request never approved.
        var second = try ComplaintStory(hotel: "SHA-PD01", registeredAt: shanghai(10, 23, 30), category: .maintenance, severity: .serious, guestKey: String(repeating: "a1", count: 32))
        second.clock(.breached, .acknowledge, after: 300)
        second.clock(.escalated(Escalation(level: 1, escalateTo: .departmentHead)), .acknowledge, after: 301)
        second.acknowledge(after: 600)
        second.compensate(after: 610, 5_000, "CNY")
        second.compensate(after: 620, 2_500, "USD")
        second.compensate(after: 630, 99_999, "CNY", approved: false)
        second.act(.noteAdded(ComplaintNote(text: "We are sorry", visibility: .guest)), after: 700, status: .acknowledged)
        second.resolve(after: 7200, firstContact: false, rootCause: "hvac_failure")
        second.clock(.met, .resolve, after: 7200)
        second.followUp(after: 7500, satisfaction: 2, nps: 3)
        second.act(.reopened(Reopening(trigger: .followupDissatisfied, reason: "still noisy")), after: 8000, status: .reopened)
        // Delivered twice: the reopening and the note count once.
        second.updated += second.updated.filter { $0.data.kind == .reopened || $0.data.kind == .noteAdded }
        // #3 11 Nov 00:30 local (10 Nov UTC): 15 min, resolved at first contact in 30 min.
        var third = try ComplaintStory(hotel: "SHA-PD01", registeredAt: shanghai(11, 0, 30), category: .cleanliness, channel: .app, guestKey: String(repeating: "b2", count: 32))
        third.acknowledge(after: 900)
        third.clock(.met, .acknowledge, after: 900)
        third.resolve(after: 1800, firstContact: true, rootCause: "housekeeping_missed")
        third.followUp(after: 5000, satisfaction: 4, nps: 8)
        // #4 11 Nov 10:00 local: serious safety complaint, acknowledged in 20 min, still open.
        var fourth = try ComplaintStory(hotel: "SHA-PD01", registeredAt: shanghai(11, 10), category: .safetySecurity, severity: .serious)
        fourth.acknowledge(after: 1200)
        // London, same days: never visible to a Shanghai key.
        var london = try ComplaintStory(hotel: "LON-KX02", registeredAt: shanghai(10, 20), category: .noise, severity: .minor)
        london.acknowledge(after: 60)
        // Compensation approved two days later, on a day without registrations.
        london.compensate(after: 172_800, 4_500, "GBP")
        // The received event delivered twice.
        first.received += first.received
        return [first, second, third, fourth, london]
    }

    static func eventCount(_ stories: [ComplaintStory]) -> Int {
        stories.reduce(0) { total, story in
            total + Set(story.received.map(\.id)).count + story.classified.count + story.assigned.count + Set(story.updated.map(\.id)).count
                + story.sla.count
        }
    }

    @Test("KPI arithmetic over local days, redelivery, spend per currency, tenancy and bad input")
    func kpis() async throws {
        try await MetricsHarness.run { harness in
            let stories = try Self.stories()
            try await harness.publish(stories)
            try await harness.waitForApplied(Self.eventCount(stories))

            let report = try await harness.kpis("hotel=SHA-PD01&from=2026-11-10&to=2026-11-11&groupBy=day")
            #expect(report.groups.map(\.key) == ["2026-11-10", "2026-11-11"])
            let day1 = try #require(report.groups.first), day2 = try #require(report.groups.last), totals = report.totals
            #expect(day1.volume == 2)
            #expect(day2.volume == 2)
            #expect(totals.volume == 4)
            // percentile_cont: [300, 600] → median 450, p90 570; [300, 600, 900, 1200] → 750 and 1110.
            #expect(day1.timeToAcknowledge.medianSeconds == 450)
            #expect(day1.timeToAcknowledge.p90Seconds == 570)
            #expect(totals.timeToAcknowledge.medianSeconds == 750)
            #expect(totals.timeToAcknowledge.p90Seconds == 1110)
            #expect(day1.timeToResolve.medianSeconds == 5400)
            #expect(day1.timeToResolve.p90Seconds == 6840)
            #expect(day2.timeToResolve.medianSeconds == 1800)
            #expect(totals.timeToResolve.count == 3)
            // SLA: #1 met both, #2 breached acknowledge and met resolve, #3 met acknowledge.
            #expect(totals.acknowledgeSLA.met == 2 && totals.acknowledgeSLA.breached == 1)
            #expect(totals.acknowledgeSLA.compliance == 2.0 / 3.0)
            #expect(totals.resolveSLA.compliance == 1)
            #expect(totals.escalations["1"] == 1 && totals.escalations["2"] == 0)
            // FCR 2 of 3 resolved; reopened 1 of 3 (once, though delivered twice); repeat: #2 (g1 again) of 3 with a key.
            #expect(totals.firstContactResolution.count == 2 && totals.firstContactResolution.of == 3)
            #expect(totals.reopened.count == 1 && totals.reopened.of == 3)
            #expect(totals.repeatComplaints.count == 1 && totals.repeatComplaints.of == 3)
            #expect(totals.guestNotes == 1)
            // Satisfaction 5, 2, 4 → mean 11/3; NPS 10 promoter, 3 detractor, 8 passive → 0.
            #expect(totals.satisfaction.responses == 3)
            #expect(abs((totals.satisfaction.mean ?? 0) - 11.0 / 3.0) < 1e-9)
            #expect(totals.satisfaction.distribution == [0, 1, 0, 1, 1])
            #expect(totals.netPromoter.promoters == 1 && totals.netPromoter.passives == 1 && totals.netPromoter.detractors == 1)
            #expect(totals.netPromoter.score == 0)
            // Approved spend only, per currency, on the local day of approval.
            #expect(totals.compensation.map { "\($0.currency):\($0.count):\($0.amountMinor)" } == ["CNY:2:15000", "USD:1:2500"])
            #expect(day1.compensation.map(\.currency) == ["CNY", "USD"])
            #expect(day2.compensation.isEmpty)
            #expect(report.topRootCauses.map { "\($0.rootCause)=\($0.count)" } == ["hvac_failure=2", "housekeeping_missed=1"])
            #expect(totals.facilityComplaints == 3 && totals.assuranceComplaints == 1)

            // Filters and dimension groups.
            let serious = try await harness.kpis("hotel=SHA-PD01&from=2026-11-10&to=2026-11-11&severity=serious")
            #expect(serious.totals.volume == 2)
            let byCategory = try await harness.kpis("hotel=SHA-PD01&from=2026-11-10&to=2026-11-11&groupBy=category")
            #expect(byCategory.groups.map { "\($0.key ?? ""):\($0.volume)" } == ["cleanliness:1", "maintenance:2", "safety_security:1"])
            // UTC days would split differently: 9 Nov local is empty.
            let ninth = try await harness.kpis("hotel=SHA-PD01&from=2026-11-09&to=2026-11-09")
            #expect(ninth.totals.volume == 0)
            #expect(ninth.totals.timeToAcknowledge.medianSeconds == nil)
            #expect(ninth.totals.acknowledgeSLA.compliance == nil)

            // Tenancy: a Shanghai manager sees Shanghai only; staff keys see nothing; admin sees the group.
            let manager = try await harness.key(.manager, hotels: ["SHA-PD01"])
            let own = try await harness.kpis("from=2026-11-10&to=2026-11-11", key: manager)
            #expect(own.hotels == ["SHA-PD01"] && own.totals.volume == 4)
            #expect(try await harness.get("/v1/kpis?hotel=LON-KX02", key: manager).status == 403)
            // Scope first: a manager learns nothing about hotels outside it, not even which exist.
            #expect(try await harness.get("/v1/kpis?hotel=NOPE-01", key: manager).status == 403)
            #expect(try await harness.get("/v1/kpis?hotel=SHA-PD01", key: try await harness.key(.staff, hotels: ["SHA-PD01"])).status == 403)
            #expect(try await harness.get("/v1/kpis?hotel=SHA-PD01", key: "rdk_nope_nope").status == 401)
            let group = try await harness.kpis("from=2026-11-10&to=2026-11-11")
            #expect(group.hotels == ["LON-KX02", "SHA-PD01"])
            #expect(group.totals.volume == 5)

            // Bad input: 422 problem+json naming the parameter.
            for (query, field) in [
                ("hotel=NOPE-01", "query.hotel"), ("hotel=SHA-PD01&from=2025-01-01&to=2026-11-11", "query.to"),
                ("hotel=SHA-PD01&from=2026-11-31", "query.from"), ("hotel=SHA-PD01&groupBy=year", "query.groupBy"),
                ("hotel=SHA-PD01&severity=huge", "query.severity"), ("hotel=SHA-PD01&from=2026-11-12&to=2026-11-11", "query.to"),
            ] {
                let reply = try await harness.get("/v1/kpis?" + query)
                #expect(reply.status == 422, "\(query): \(reply.status)")
                #expect(reply.headers["content-type"]?.hasPrefix("application/problem+json") == true)
                let errors = reply.json["errors"] as? [[String: Any]] ?? []
                #expect(errors.first?["field"] as? String == field, "\(query): \(reply.body)")
            }

            // A day with an approval but no registration still shows its spend.
            let london = try await harness.kpis("hotel=LON-KX02&from=2026-11-10&to=2026-11-12&groupBy=day")
            #expect(london.groups.map { "\($0.key ?? ""):\($0.volume)" } == ["2026-11-10:1", "2026-11-12:0"])
            #expect(london.groups.last?.compensation.map { "\($0.currency):\($0.amountMinor)" } == ["GBP:4500"])
            #expect(london.totals.compensation.map(\.amountMinor) == [4500])

            // Open backlog now: #2 reopened and #4 open; #1 and #3 resolved; London elsewhere.
            let open = try await harness.get("/v1/open?hotel=SHA-PD01")
            let ids = (open.json["complaints"] as? [[String: Any]] ?? []).compactMap { $0["complaintId"] as? String }
            #expect(Set(ids) == Set([stories[1].id, stories[3].id].map { $0.uuidString.lowercased() }))
            #expect(report.backlog.open == 2 && report.backlog.over3d == 2)
            // Counts of every open complaint, not of the (at most 500) listed: the dashboard's summary
            // said "500 open" beside a backlog of 1,800.
            #expect(open.json["total"] as? Int == 2, "\(open.body)")
            #expect((open.json["bySeverity"] as? [String: Int]) == report.backlog.bySeverity, "\(open.body)")
            let statuses = open.json["byStatus"] as? [String: Int] ?? [:]
            #expect(statuses.values.reduce(0, +) == 2, "\(open.body)")
        }
    }

    @Test("an event it cannot place is dead-lettered with the reason and the stage carries on")
    func unplaceable() async throws {
        try await MetricsHarness.run { harness in
            let producer = try KafkaProducer(configuration: harness.kafka.producerConfiguration(), logger: harness.kafka.logger)
            // A classification event on the received topic (the wrong type), then bytes that are no JSON.
            let wrong = try EventFixtures.classified(complaintID: UUID())
            try await withRunningServices([producer]) {
                for value in [try Topics.classified.encode(wrong), Array("not json".utf8)] {
                    _ = try await producer.sendAndAwait(KafkaProducerMessage(
                        topic: harness.topics.received.name, key: ByteBuffer(string: "k"), value: ByteBuffer(bytes: value)))
                }
            }
            let story = try ComplaintStory(hotel: "SHA-PD01", registeredAt: Date())
            try await harness.publish([story])
            try await harness.waitForApplied(Self.eventCount([story]))
            let consumer = try KafkaConsumer(configuration: harness.kafka.consumerConfiguration(topics: [harness.deadLetters]), logger: harness.kafka.logger)
            let letters = try await withRunningServices([consumer]) { try await consumer.collect(2) }
            let records = try letters.map { try Topics.deadLetter.decode(Array($0.value.readableBytesView)).data }
            #expect(records.count == 2)
            #expect(records.allSatisfy { $0.sourceTopic == harness.topics.received.name && $0.service == "metrics" })
            #expect(records.contains { $0.reason.contains(ComplaintClassified.eventType) || $0.reason.contains("type") }, "\(records.map(\.reason))")
            #expect(try await harness.kpis("hotel=SHA-PD01").totals.volume == 1)
        }
    }

    @Test("a repeat complaint counts whichever registration is read first")
    func repeatsWhateverTheOrder() async throws {
        try await MetricsHarness.run { harness in
            let guest = String(repeating: "c3", count: 32)
            let earlier = try ComplaintStory(hotel: "SHA-PD01", registeredAt: Self.shanghai(12, 9), guestKey: guest)
            let later = try ComplaintStory(hotel: "SHA-PD01", registeredAt: Self.shanghai(20, 9), guestKey: guest)
            // 40 days on: outside the 30-day window, not a repeat.
            let much = try ComplaintStory(hotel: "SHA-PD01", registeredAt: Self.shanghai(20, 9).addingTimeInterval(40 * 86_400), guestKey: guest)
            // The later registration is published (and applied) first.
            try await harness.publish([later])
            try await harness.waitForApplied(Self.eventCount([later]))
            try await harness.publish([much, earlier])
            try await harness.waitForApplied(Self.eventCount([later, much, earlier]))
            let report = try await harness.kpis("hotel=SHA-PD01&from=2026-11-01&to=2027-01-31")
            #expect(report.totals.repeatComplaints.count == 1 && report.totals.repeatComplaints.of == 3)
            let byDay = try await harness.kpis("hotel=SHA-PD01&from=2026-11-01&to=2027-01-31&groupBy=day")
            #expect(byDay.groups.first { $0.key == "2026-11-20" }?.repeatComplaints.count == 1)
        }
    }
}
