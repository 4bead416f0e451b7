import Classifier
import ComplaintEvents
import Testing

/// Reading a danger as minor is the classifier's most expensive mistake (LABELING.md, "Serious
/// before anything happens"): the four kinds it used to miss, in both languages, with their
/// harmless look-alikes, and the cost-aware rule that says `serious` when unsure.
@Suite("Serious before anything happens")
struct SeriousCueTests {
    /// Serious by the guide although nobody has been hurt; each with the category the guide gives.
    @Test("hazards, health risks, privacy lapses and indirect discrimination are serious", arguments: [
        // Hazards where nothing has happened yet.
        ("There are bare wires sticking out behind the headboard, just thought you should know.", "hazard"),
        ("The light over the mirror has water dripping into the light fitting from the room above.", "hazard"),
        ("The balcony railing is loose, it moves when my son leans on it.", "hazard"),
        ("Our room door doesn't latch, anyone could push it open at night.", "hazard"),
        ("床头的插座松了，一插充电器就冒火花。", "hazard"),
        ("楼梯的扶手晃得厉害，老人扶着很危险。", "hazard"),
        ("房门锁不上，我们只能用椅子顶着门睡。", "hazard"),
        ("健身房门口地上全是碎玻璃，一直没人来扫。", "hazard"),
        // Health risks.
        ("I told the waiter about my shellfish allergy and the risotto came with prawns in it.", "health"),
        ("The milk at breakfast was sour, the carton said use by last Tuesday.", "health"),
        ("My father is diabetic and the insulin fridge we booked was never put in the room.", "health"),
        ("牛奶过期了，早餐厅还在给客人倒。", "health"),
        ("跟服务员说了我对花生过敏，端上来的菜里还是有花生碎。", "health"),
        ("我们订的是无障碍房，结果进门就是台阶，轮椅根本进不去。", "health"),
        // Security and privacy lapses by the hotel.
        ("My key card opened another guest's room on the 8th floor.", "privacy"),
        ("The front desk gave my room number to a man who phoned asking for me.", "privacy"),
        ("Reception gave him a key to our room without checking who he was.", "privacy"),
        ("前台把我的房号告诉了一个自称是朋友的人。", "privacy"),
        ("晚上十一点有人刷卡进来，说前台给他分的就是这间，房间里有人他们都不知道。", "privacy"),
        ("我的房卡能开别人的房间，这也太吓人了。", "privacy"),
        // Discrimination said indirectly.
        ("The receptionist kept asking where I'm really from before handing over the key.", "discrimination"),
        ("The bar staff mocked my accent in front of other guests.", "discrimination"),
        ("Security singled us out at the lift, the only family in headscarves.", "discrimination"),
        ("服务员学我口音说话，还跟同事一起笑。", "discrimination"),
        ("经理说你们这种人就是事多。", "discrimination"),
        ("只查我们的护照，别的客人都不查，就因为肤色不一样。", "discrimination"),
    ])
    func serious(text: String, kind: String) async {
        let result = await Repository.engine.classify(ComplaintInput(text: text))
        #expect(result.severity == .serious, "\(kind): \(text) → \(result.severity.rawValue): \(result.explanation.summary ?? "")")
        // The explanation names what made it serious: a severity rule, the safety category, or the
        // model (sure or unsure) with its cue.
        let named = result.explanation.matchedRules.contains { name in
            ["hazard_before_harm", "health_risk", "privacy_security_lapse", "discrimination_indirect", "security_threat", "safety_injury",
             "safety_category", "unsure_serious", "model_serious"].contains(name)
        }
        #expect(named, "\(text): \(result.explanation.matchedRules)")
    }

    /// Phrases of rules-2026.12.3 and .4, each a case the guide calls serious, in the rule that names it.
    @Test("each serious kind's newer phrases raise it through their own rule", arguments: [
        ("The water from the bath tap is boiling hot, my kids nearly got in.", "hazard_before_harm"),
        ("洗手池的热水烫手，完全没有限温。", "hazard_before_harm"),
        ("两个孩子住了一晚都感冒了，暖气一直不热。", "safety_injury"),
        ("A drunk man kept threatening us through the door.", "security_threat"),
        ("The bartender read my name and room number out loud to the whole bar.", "privacy_security_lapse"),
        ("前台误将我的账单发给了别的客人。", "privacy_security_lapse"),
        ("My key also opens the room next door.", "privacy_security_lapse"),
        ("The clerk asked if we were Nigerian and then wanted cash upfront.", "discrimination_indirect"),
        ("服务员问我是哪个民族的，然后就不让进酒廊。", "discrimination_indirect"),
        ("订房时写了要透析，药要冷藏，到了房间什么都没准备。", "health_risk"),
        ("Seafood on the buffet was sitting in the sun all morning.", "health_risk"),
        ("I'm posting all of this on Xiaohongshu tonight.", "review_threat"),
        ("这件事我们公司法务会跟进。", "legal_threat"),
        ("房间隔音一般，我会在美团评价里提一句。", "review_threat"),
        ("Two phones disappeared from the room after turndown.", "security_threat"),
        ("The lounge host asked only me for ID, not the others.", "discrimination_indirect"),
        ("I'm filing a police report about this.", "legal_threat"),
        ("房间一股烟味，换了两次都一样，这些我都会写进携程点评。", "review_threat"),
        ("The spa attendant put his hands on my waist although I'd said no twice.", "security_threat"),
        ("健身房的教练借着纠正动作摸我，我说了不用他还继续。", "security_threat"),
        ("Someone's cigarette end was smouldering in the bin on our balcony.", "hazard_before_harm"),
        ("空调有点吵，能忍。跟前台说了一声，她回“你们老外就是讲究多”。", "discrimination_indirect"),
        ("The TV's guest menu greets me by name, fine, but the login screen lists the other guests' names and rooms.", "privacy_security_lapse"),
        ("送来的面包底下长了白毛，孩子已经咬了一口。", "health_risk"),
        ("Printer in the business centre is slow. Also the print queue shows the guests' names and room numbers of everyone today.", "privacy_security_lapse"),
        ("The desk couldn't find my booking, so the clerk just handed me another guest's keycard to use meanwhile.", "privacy_security_lapse"),
        ("The top bunk has no rail; our six-year-old could fall out of it in her sleep.", "hazard_before_harm"),
    ])
    func newerPhrases(text: String, rule: String) async {
        let result = await Repository.engine.classify(ComplaintInput(text: text))
        #expect(result.severity == .serious, "\(text) → \(result.severity.rawValue): \(result.explanation.summary ?? "")")
        #expect(result.explanation.matchedRules.contains(rule), "\(text): \(result.explanation.matchedRules)")
    }

    /// Close in wording, not serious by the guide: precision matters too.
    @Test("their harmless look-alikes are not serious", arguments: [
        "The bedside lamp flickers now and then.",
        "The curtains won't close all the way, a bit of light comes in.",
        "The window won't open, the room is stuffy.",
        "The key card stopped working after lunch, had to get a new one.",
        "The waiter was curt and rolled his eyes when I asked for more coffee.",
        "The soup was lukewarm.",
        "卫生间的水龙头有点滴水。",
        "窗帘拉不上，早上太亮了。",
        "房卡消磁了，又去前台重新做了一张。",
        "早餐素食的选择有点少，希望能多一些。",
        "服务员态度一般，叫了两次才过来。",
        "我的美团订单前台查了一会儿才找到，没什么大问题。",
        "The concierge's directions to the hospital for my check-up were a bit off, but we found it.",
        "点评4分｜位置方便，早餐不错，就是结账小票打得太淡了，报销拍照看不清。",
    ])
    func notSerious(text: String) async {
        let result = await Repository.engine.classify(ComplaintInput(text: text))
        #expect(result.severity != .serious, "\(text) → serious: \(result.explanation.summary ?? "")")
    }

    @Test("a serious cue is not softened into minor by calm words")
    func notSoftened() async {
        for text in ["Just fyi, no rush: the socket by the desk sparks a bit when I plug in.", "小问题：阳台栏杆有点松，不着急。"] {
            let result = await Repository.engine.classify(ComplaintInput(text: text))
            #expect(result.severity == .serious, "\(text) → \(result.severity.rawValue)")
            #expect(result.flags.involvesSafety)
        }
    }

    /// A plugin that always gives the same severity distribution (the engine's decision rule is
    /// under test here, not a model).
    struct FixedSeverity: ClassifierPlugin {
        let name = "fixed"
        let weight = 1.0
        let severities: [Double]  // minor, moderate, serious
        func classify(_ request: ClassificationRequest) async -> PluginVerdict? {
            var categories = [Double](repeating: 0, count: ComplaintCategory.allCases.count)
            categories[ComplaintCategory.allCases.firstIndex(of: .maintenance)!] = 1
            return PluginVerdict(plugin: name, version: "1", categories: categories, severities: severities)
        }
    }

    @Test("unsure between serious and not, it says serious and asks for a person", arguments: [
        ([0.45, 0.20, 0.35], Severity.serious, true),
        ([0.20, 0.48, 0.32], Severity.serious, true),
        ([0.70, 0.20, 0.10], Severity.minor, false),
        ([0.60, 0.22, 0.18], Severity.moderate, false),  // serious still plausible: not minor
        ([0.10, 0.20, 0.70], Severity.serious, false),
    ])
    func unsure(severities: [Double], expected: Severity, unsure: Bool) async {
        let rules = RuleSet(version: "t", categoryRules: [], severityRules: [], sentiment: .init())
        let engine = ClassificationEngine(rules: rules, plugins: [FixedSeverity(severities: severities)], seriousThreshold: 0.3)
        let result = await engine.classify(ComplaintInput(text: "the thing in the room"))
        #expect(result.severity == expected)
        #expect(result.explanation.matchedRules.contains("unsure_serious") == unsure)
        if unsure {
            #expect(result.flags.needsHumanReview)
            #expect(result.explanation.summary?.contains("unsure between serious and") == true)
        }
    }

    @Test("eval reports serious recall, precision and serious read as minor, per language")
    func evalReport() async {
        let examples = [
            LabeledExample(text: "The socket by the bed sparks when I plug in my phone.", category: .maintenance, severity: .serious, language: "en"),
            LabeledExample(text: "Reception gave my room number to a stranger on the phone.", category: .safetySecurity, severity: .serious, language: "en"),
            LabeledExample(text: "The bedside lamp flickers now and then.", category: .maintenance, severity: .minor, language: "en"),
            LabeledExample(text: "插座一插充电器就冒火花。", category: .maintenance, severity: .serious, language: "zh-CN"),
            LabeledExample(text: "卫生间的水龙头有点滴水。", category: .maintenance, severity: .minor, language: "zh-CN"),
        ]
        let evaluation = await Evaluation.run(Repository.engine, on: examples)
        let english = Evaluation.seriousFigures(evaluation.severitiesByLanguage["en"]!)
        #expect(english.support == 2 && english.recall == 1 && english.readAsMinor == 0)
        #expect(Evaluation.seriousFigures(evaluation.severitiesByLanguage["zh-CN"]!).support == 1)
        let report = evaluation.report
        #expect(report.contains("read as minor"))
        for name in ["all", "en", "zh-CN"] { #expect(report.split(separator: "\n").contains { $0.hasPrefix(name + " ") }) }

        // The arithmetic, on a matrix made by hand: 8 serious (6 found, 1 moderate, 1 minor), 2 false alarms.
        var matrix = ConfusionMatrix<Severity>(labels: Severity.allCases)
        for _ in 0..<6 { matrix.add(actual: .serious, predicted: .serious) }
        matrix.add(actual: .serious, predicted: .moderate)
        matrix.add(actual: .serious, predicted: .minor)
        matrix.add(actual: .moderate, predicted: .serious)
        matrix.add(actual: .minor, predicted: .serious)
        let figures = Evaluation.seriousFigures(matrix)
        #expect(figures.recall == 0.75 && figures.precision == 0.75 && figures.readAsMinor == 1 && figures.support == 8)
    }
}
