@testable import Classifier
import ComplaintEvents
import Testing

@Suite("Rules and the built-in engine")
struct RuleTests {
    @Test("categories in Chinese, English, mixed text, full-width punctuation and emoji", arguments: [
        ("空调不制冷，房间里闷热得睡不着", ComplaintCategory.maintenance),
        ("The air conditioning in 1204 is not cooling at all", .maintenance),
        ("房间里有蟑螂！！！", .cleanliness),
        ("There's a cockroach in the bathroom 🤢", .cleanliness),
        ("隔壁房间一直在大声唱歌，太吵了", .noise),
        ("Loud music from the room next door until 3am", .noise),
        ("Wi-Fi一直掉线，根本连不上", .connectivity),
        ("ＷＩＦＩ　ｋｅｅｐｓ　ｄｒｏｐｐｉｎｇ！", .connectivity),
        ("退房时发现多收了一晚房费，要求退款", .billing),
        ("I was charged twice for the minibar, please refund", .billing),
        ("前台服务员态度很差，爱答不理", .staffBehavior),
        ("The receptionist was incredibly rude and rolled her eyes at me", .staffBehavior),
        ("早餐的鸡蛋是凉的，咖啡也很难喝", .foodBeverage),
        ("Room service took 90 minutes and the food was cold", .foodBeverage),
        ("房间里没有毛巾和牙刷", .amenities),
        ("No towels or shampoo in the room 😤", .amenities),
        ("我的钱包在房间里被偷了", .safetySecurity),
        ("A stranger tried to open my door at 2am, I felt unsafe", .safetySecurity),
        ("The 空调 in my room is broken", .maintenance),
    ])
    func category(text: String, expected: ComplaintCategory) async {
        let result = await Repository.engine.classify(ComplaintInput(text: text))
        #expect(result.category == expected, "\(text): \(result.explanation)")
        #expect(result.explanation.matchedRules.count <= 32 && result.explanation.matchedTerms.count <= 32)
    }

    @Test("empty or whitespace text is other and needs a person", arguments: ["", "   ", "\u{3000}\n\t", "😡😡😡", "！！！"])
    func blank(text: String) async {
        let result = await Repository.engine.classify(ComplaintInput(text: text))
        #expect(result.category == .other)
        #expect(result.flags.needsHumanReview)
        #expect((1...4).contains(result.priority))
    }

    @Test("English terms match whole words; a trailing * matches a prefix")
    func boundaries() throws {
        let matcher = try TermMatcher(terms: ["ac", "overcharg*", "空调"])
        func found(_ text: String) -> [Int] {
            var hits: [Int] = []
            matcher.forEachMatch(in: NormalizedText(text).scalars) { hits.append($0) }
            return hits
        }
        #expect(found("my account") == [])
        #expect(found("the AC is off") == [0])
        #expect(found("I was overcharged") == [1])
        #expect(found("房间空调坏了") == [2])
    }

    @Test("severity cues set flags and severity")
    func cues() async {
        let review = await Repository.engine.classify(ComplaintInput(text: "Dirty room, I will write a bad review on TripAdvisor"))
        #expect(review.flags.threatensReview)
        #expect(review.severity == .serious)
        let injury = await Repository.engine.classify(ComplaintInput(text: "浴室地滑，我妈妈摔倒受伤了"))
        #expect(injury.flags.involvesSafety)
        #expect(injury.severity == .serious)
        #expect(injury.priority == 1)
    }

    @Test("loader errors name the file, line and key", arguments: [
        ("version: r1\ncategories:\n  plumbing:\n    - rule: x\n      terms: [a]\n", "rules.yaml:3: categories.plumbing: is not a category"),
        ("version: r1\ncategories:\n  noise:\n    - rule: Loud Rule\n      terms: [a]\n", "rules.yaml:4: categories.noise[0].rule: 'Loud Rule' must be a code"),
        ("version: r1\ncategories:\n  noise:\n    - rule: loud\n      terms: []\n", "rules.yaml:5: categories.noise[0].terms: needs at least one term"),
        ("version: r1\ncategories: {}\nseverity:\n  - rule: s\n    severity: huge\n    terms: [x]\n", "rules.yaml:5: severity[0].severity: 'huge' is not one of"),
        ("version: r1\ncategories: {}\ncolour: red\n", "rules.yaml:3: unknown key 'colour'"),
        ("version: r1\ncategories: [\n", "rules.yaml:"),
    ])
    func loaderErrors(yaml: String, expected: String) {
        do {
            _ = try RuleSetLoader.parse(yaml, file: "rules.yaml")
            Issue.record("accepted: \(yaml)")
        } catch {
            #expect(error.description.hasPrefix(expected), "\(error.description)")
        }
    }

    @Test("the shipped rules file loads")
    func shippedRules() throws {
        let rules = try RuleSetLoader.load(contentsOf: Repository.rulesFile)
        #expect(Set(rules.categoryRules.map(\.category)).count >= 10)
    }
}
