@testable import Classifier
import ComplaintEvents
import Foundation
import Testing

@Suite("Severity escalation and priority")
struct SeverityTests {
    static let rules = RuleSet(version: "t", categoryRules: [], severityRules: [], sentiment: .init())

    @Test("repeat, VIP and safety raise severity", arguments: [
        // predicted, category, VIP, earlier in stay, earlier in 30 days, expected severity, repeat flag
        (Severity.minor, ComplaintCategory.amenities, false, 0, 0, Severity.minor, false),
        (.minor, .amenities, false, 1, 1, .moderate, true),
        (.minor, .amenities, false, 0, 1, .moderate, true),
        (.moderate, .maintenance, false, 1, 1, .moderate, true),
        (.minor, .amenities, false, 2, 2, .serious, true),
        (.moderate, .maintenance, true, 0, 0, .serious, false),
        (.minor, .connectivity, true, 0, 0, .minor, false),
    ])
    func escalation(predicted: Severity, category: ComplaintCategory, vip: Bool, inStay: Int, inWindow: Int, expected: Severity, isRepeat: Bool) {
        let outcome = SeverityPolicy().apply(
            predicted: predicted, category: category, matches: .init(), rules: Self.rules, isVIP: vip,
            history: GuestHistorySummary(earlierInStay: inStay, earlierInWindow: inWindow))
        #expect(outcome.severity == expected)
        #expect(outcome.isRepeat == isRepeat)
    }

    /// Rules as LABELING.md describes them: a harm cue, a softening cue and a VIP mention.
    static let cueRules = RuleSet(version: "t", categoryRules: [], severityRules: [
        SeverityRule(name: "harm", severity: .moderate, effect: .raise, terms: ["couldn't sleep", "睡不着"]),
        SeverityRule(name: "injury", severity: .serious, effect: .raise, flag: .safety, terms: ["injured"]),
        SeverityRule(name: "vip_member", severity: .minor, effect: .raise, flag: .vip, terms: ["platinum member", "钻石会员"]),
        SeverityRule(name: "soft", severity: .minor, effect: .cap, terms: ["a bit", "有点"]),
    ], sentiment: .init())

    @Test("softening words cap severity only when nothing says the stay was harmed", arguments: [
        // text, predicted, expected
        ("the wifi is a bit slow", Severity.moderate, Severity.minor),
        ("a bit noisy, couldn't sleep", .minor, .moderate),
        ("有点吵，睡不着", .minor, .moderate),
        ("a bit of a fall, I was injured", .minor, .serious),
        ("platinum member, a bit short of towels", .moderate, .minor),
    ])
    func softening(text: String, predicted: Severity, expected: Severity) {
        let matches = RuleMatcher(rules: Self.cueRules).match(NormalizedText(text))
        let outcome = SeverityPolicy().apply(
            predicted: predicted, category: .amenities, matches: matches, rules: Self.cueRules, isVIP: false,
            history: GuestHistorySummary(earlierInStay: 0, earlierInWindow: 0))
        #expect(outcome.severity == expected, "\(text)")
    }

    @Test("a security complaint is serious while serious is plausible, else at least moderate, unless a softening cue caps it", arguments: [
        // text, predicted, serious plausible, expected, rule
        ("a man kept trying our door handle at night", Severity.moderate, true, Severity.serious, "safety_category"),
        ("a man kept trying our door handle at night", .minor, true, .serious, "safety_category"),
        ("the CCTV camera in the car park points at the wall", .minor, false, .moderate, "safety_category_not_minor"),
        ("停车场的监控歪了，对着墙", .moderate, false, .moderate, nil),
        ("the camera in the car park is a bit crooked", .moderate, true, .minor, nil),
        ("a bit of a fall, I was injured", .minor, false, .serious, "injury"),
    ] as [(String, Severity, Bool, Severity, String?)])
    func securityCategory(text: String, predicted: Severity, plausible: Bool, expected: Severity, rule: String?) {
        let matches = RuleMatcher(rules: Self.cueRules).match(NormalizedText(text))
        let outcome = SeverityPolicy().apply(
            predicted: predicted, seriousPlausible: plausible, category: .safetySecurity, matches: matches, rules: Self.cueRules,
            isVIP: false, history: GuestHistorySummary(earlierInStay: 0, earlierInWindow: 0))
        #expect(outcome.severity == expected, "\(text)")
        #expect(outcome.involvesSafety)
        if let rule { #expect(outcome.rules.contains(rule), "\(text): \(outcome.rules)") }
    }

    @Test("with no plugin judging severity (rules only), a security complaint is serious")
    func securityWithoutModel() async throws {
        let rules = try RuleSetLoader.load(contentsOf: Repository.rulesFile)
        let engine = ClassificationEngine(rules: rules, plugins: [KeywordClassifier(rules: rules)])
        let result = await engine.classify(ComplaintInput(text: "停车场的监控摄像头歪了，对着墙。"))
        #expect(result.category == .safetySecurity)
        #expect(result.severity == .serious, "\(result.explanation.matchedRules)")
    }

    @Test("a VIP named in the text turns a moderate failure serious, not a minor one", arguments: [
        ("I'm a platinum member and the AC is broken", Severity.moderate, Severity.serious, true),
        ("钻石会员，空调坏了", .moderate, .serious, true),
        ("platinum member, could I get an extra pillow", .minor, .minor, true),
        ("the AC is broken", .moderate, .moderate, false),
    ])
    func vipInText(text: String, predicted: Severity, expected: Severity, mentionsVIP: Bool) {
        let matches = RuleMatcher(rules: Self.cueRules).match(NormalizedText(text))
        let outcome = SeverityPolicy().apply(
            predicted: predicted, category: .maintenance, matches: matches, rules: Self.cueRules, isVIP: false,
            history: GuestHistorySummary(earlierInStay: 0, earlierInWindow: 0))
        #expect(outcome.severity == expected, "\(text)")
        #expect(outcome.mentionsVIP == mentionsVIP)
    }

    @Test("the engine applies history: the third complaint of a stay is serious and priority 1")
    func thirdOfStay() async {
        let input = ComplaintInput(text: "房间里没有拖鞋", isVIP: false)
        let first = await Repository.engine.classify(input)
        let third = await Repository.engine.classify(input, history: GuestHistorySummary(earlierInStay: 2, earlierInWindow: 2))
        #expect(first.severity != .serious)
        #expect(!first.flags.isRepeat)
        #expect(third.severity == .serious)
        #expect(third.flags.isRepeat)
        #expect(third.priority == 1)
        #expect(third.explanation.matchedRules.contains("repeat_third_in_stay"))
    }

    @Test("a VIP with a broken air conditioner is serious")
    func vip() async {
        let result = await Repository.engine.classify(ComplaintInput(text: "The air conditioning is broken and the room is 30 degrees", isVIP: true))
        #expect(result.flags.isVIP)
        #expect(result.severity == .serious)
        #expect(result.priority == 1)
    }

    @Test("guest history counts the same guest at the same hotel: stay by reservation, window by 30 days")
    func history() {
        let now = Date(timeIntervalSince1970: 1_750_000_000)
        let current = GuestVisit(guestKey: "g", hotelID: "H1", reservationReference: "R1", complaintID: UUID(), registeredAt: now)
        let earlier = [
            GuestVisit(guestKey: "g", hotelID: "H1", reservationReference: "R1", complaintID: UUID(), registeredAt: now - 3600),
            GuestVisit(guestKey: "g", hotelID: "H1", reservationReference: "R0", complaintID: UUID(), registeredAt: now - 10 * 86400),
            GuestVisit(guestKey: "g", hotelID: "H1", reservationReference: "R-old", complaintID: UUID(), registeredAt: now - 40 * 86400),
            GuestVisit(guestKey: "g", hotelID: "H2", reservationReference: "R1", complaintID: UUID(), registeredAt: now - 60),
            GuestVisit(guestKey: "other", hotelID: "H1", reservationReference: "R1", complaintID: UUID(), registeredAt: now - 60),
            current,
        ]
        #expect(current.summary(of: earlier) == GuestHistorySummary(earlierInStay: 1, earlierInWindow: 2))
    }

    /// The contract's examples of `complaints.classified.v1` show the priority the classifier would give
    /// (before: the corrected example said 2 for a moderate complaint from a VIP, which is 1).
    @Test("every classified example's priority is the policy's", arguments: try FileManager.default.contentsOfDirectory(
        atPath: Repository.path("schemas/examples")).filter { $0.hasPrefix("complaint-classified.") }.sorted())
    func examplePriority(file: String) throws {
        let event = try Topics.classified.decode(Array(try Data(contentsOf: URL(fileURLWithPath: Repository.path("schemas/examples/\(file)")))))
        let verdict = event.data
        #expect(verdict.priority == PriorityPolicy.priority(severity: verdict.severity, flags: verdict.flags, sentiment: verdict.sentiment), "\(file)")
    }

    @Test("priority from severity and flags", arguments: [
        (Severity.serious, false, 0.0, 1), (.moderate, false, 0.0, 2), (.moderate, true, 0.0, 1),
        (.minor, false, 0.0, 4), (.minor, true, 0.0, 3), (.minor, false, -0.8, 3),
    ])
    func priority(severity: Severity, flagged: Bool, sentiment: Double, expected: Int) {
        let flags = ClassificationFlags(isVIP: flagged, isRepeat: false, involvesSafety: false, threatensReview: false, needsHumanReview: false)
        #expect(PriorityPolicy.priority(severity: severity, flags: flags, sentiment: sentiment) == expected)
    }
}
