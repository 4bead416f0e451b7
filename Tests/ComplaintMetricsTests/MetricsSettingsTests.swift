import ComplaintEvents
import ComplaintMetrics
import ComplaintPipeline
import Foundation
import Testing

/// The metrics file (shipped and broken ones) and the service-quality index's arithmetic.
@Suite struct MetricsSettingsTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func theShippedFileLoads() throws {
        let settings = try MetricsFile.load(contentsOf: Self.repository.appendingPathComponent(MetricsFile.defaultPath).path)
        #expect(Set(settings.hotels.keys) == ["SHA-PD01", "BJS-CY02", "LON-KX02"])
        #expect(settings.hotels["SHA-PD01"]?.timeZone.identifier == "Asia/Shanghai")
        #expect(settings.hotels["LON-KX02"]?.monthlyBudget == ["GBP": 400_000, "EUR": 100_000])
        #expect(settings.earlyWarning.window == 3600 && settings.earlyWarning.pValue == 0.001)
        #expect(settings.qualityIndex.weights[.reliability] == 0.32)
    }

    @Test(arguments: [
        ("hotels:\n  H1:\n    timeZone: Mars/Olympus\n", "x.yaml:3: hotels.H1.timeZone: must be an IANA time zone"),
        ("hotels:\n  H1:\n    monthlyBudget: {cny: 100}\n", "x.yaml:3: hotels.H1.monthlyBudget.cny: must be an ISO 4217 currency code"),
        ("hotels:\n  H1:\n    roms: 10\n", "x.yaml:3: hotels.H1.roms: is not a known setting"),
        ("earlyWarning:\n  pValue: 2\n", "x.yaml:2: earlyWarning.pValue: must be a probability"),
        ("earlyWarning:\n  window: 10s\n", "x.yaml:2: earlyWarning.window: must be at least 60 s"),
        ("earlyWarning:\n  clearPValue: 0.0001\n", "x.yaml:2: earlyWarning.clearPValue: must be above pValue"),
        ("targets:\n  acknowledgeCompliance: 90\n", "x.yaml:2: targets.acknowledgeCompliance: must be a share between 0 and 1"),
        ("qualityIndex:\n  weights: {tangibles: 0, reliability: 0, responsiveness: 0, assurance: 0, empathy: 0}\n", "x.yaml:2: qualityIndex.weights: at least one weight"),
    ])
    func aBrokenFileIsRefusedWithItsLineAndField(text: String, expected: String) throws {
        let error = #expect(throws: ConfigurationFileError.self) { try MetricsFile.load(try ConfigurationFile(text: text, path: "x.yaml")) }
        #expect(error?.description.hasPrefix(expected) == true, "\(error?.description ?? "no error")")
    }

    static func figures(
        volume: Int, facility: Int = 0, assurance: Int = 0, escalated: Int = 0, repeatRate: (Int, Int) = (0, 0), reopen: (Int, Int) = (0, 0),
        resolveCompliance: (Int, Int) = (0, 0), acknowledgeMedian: Double? = nil, resolveMedian: Double? = nil, satisfaction: Double? = nil,
        nps: Double? = nil, notes: Int = 0
    ) -> KPIFigures {
        let json = """
            {"volume": \(volume), "facilityComplaints": \(facility), "assuranceComplaints": \(assurance), "guestNotes": \(notes),
             "escalations": {"1": \(escalated), "2": 0, "3": 0},
             "timeToAcknowledge": {"count": \(volume), "medianSeconds": \(acknowledgeMedian.map { "\($0)" } ?? "null")},
             "timeToResolve": {"count": \(volume), "medianSeconds": \(resolveMedian.map { "\($0)" } ?? "null")},
             "acknowledgeSLA": {"met": 0, "breached": 0, "breaches": 0},
             "resolveSLA": {"met": \(resolveCompliance.0), "breached": \(resolveCompliance.1 - resolveCompliance.0), "breaches": 0,
                            "compliance": \(resolveCompliance.1 > 0 ? "\(Double(resolveCompliance.0) / Double(resolveCompliance.1))" : "null")},
             "firstContactResolution": {"count": 0, "of": 0},
             "repeatComplaints": {"count": \(repeatRate.0), "of": \(repeatRate.1), "rate": \(repeatRate.1 > 0 ? "\(Double(repeatRate.0) / Double(repeatRate.1))" : "null")},
             "reopened": {"count": \(reopen.0), "of": \(reopen.1), "rate": \(reopen.1 > 0 ? "\(Double(reopen.0) / Double(reopen.1))" : "null")},
             "satisfaction": {"responses": 1, "mean": \(satisfaction.map { "\($0)" } ?? "null"), "distribution": [0, 0, 0, 0, 0]},
             "netPromoter": {"responses": 1, "promoters": 0, "passives": 0, "detractors": 0, "score": \(nps.map { "\($0)" } ?? "null")},
             "compensation": []}
            """
        return try! JSONDecoder().decode(KPIFigures.self, from: Data(json.utf8))
    }

    @Test func theQualityIndexMapsKPIsOntoTheFiveDimensions() {
        let hotel = MetricsSettings.Hotel(id: "H1", rooms: 200)
        // All 30 days of November: 10 facility complaints on 200 rooms = 5 per 100 rooms in the month, of a limit of 10.
        let totals = Self.figures(
            volume: 40, facility: 10, assurance: 2, escalated: 4, repeatRate: (4, 40), reopen: (2, 20), resolveCompliance: (18, 20),
            acknowledgeMedian: 900, resolveMedian: 12 * 3600, satisfaction: 4, nps: 20, notes: 20)
        let index = QualityIndex.compute(hotel: hotel, month: "2026-11", totals: totals, days: 30, settings: .init())
        let score = { (dimension: QualityDimension) in index.dimensions[dimension.rawValue]?.score }
        #expect(score(.tangibles) == 50)
        // Reliability: (1 − 0.1, 1 − 0.1, 0.9) → 90.
        #expect(score(.reliability) == 90)
        // Responsiveness: 15 min of 60 → 75; 12 h of 48 → 75.
        #expect(score(.responsiveness) == 75)
        // Assurance: 2 on 200 rooms = 1 per 100 in the month, of 2 → 50; escalations 10 % → 90; mean 70.
        #expect(abs((score(.assurance) ?? 0) - 70) < 0.1)
        // Empathy: satisfaction 4 → 75, NPS 20 → 60, half a guest note per complaint → 50; mean 61.7.
        #expect(abs((score(.empathy) ?? 0) - 61.7) < 0.1)
        let weights = MetricsSettings.QualityIndex().weights
        let expected = QualityDimension.allCases.reduce(0.0) { $0 + (score($1) ?? 0) * (weights[$1] ?? 0) } / weights.values.reduce(0, +)
        #expect(abs((index.score ?? 0) - expected) < 0.1)
    }

    @Test func theLiveStreamSettingsComeFromTheEnvironmentAndABadOneNamesItsVariable() async throws {
        // An empty file keeps a local services/metrics/metrics.json out (a named file must exist).
        let missing = FileManager.default.temporaryDirectory.appendingPathComponent("metrics-settings-\(UUID().uuidString).json").path
        try Data("{}".utf8).write(to: URL(fileURLWithPath: missing))
        defer { try? FileManager.default.removeItem(atPath: missing) }
        let defaults = try await MetricsConfiguration.load(environment: [:], configurationFile: missing)
        #expect(defaults.liveHeartbeat == .seconds(15) && defaults.liveLimits == LiveFeed.Limits(perKey: 5, total: 500))
        let set = try await MetricsConfiguration.load(
            environment: ["METRICS_LIVE_HEARTBEAT_SECONDS": "5", "METRICS_LIVE_STREAMS_PER_KEY": "2", "METRICS_LIVE_STREAMS": "40"],
            configurationFile: missing)
        #expect(set.liveHeartbeat == .seconds(5) && set.liveLimits == LiveFeed.Limits(perKey: 2, total: 40))
        for (variable, value) in [("METRICS_LIVE_STREAMS_PER_KEY", "0"), ("METRICS_LIVE_STREAMS", "many"), ("METRICS_LIVE_HEARTBEAT_SECONDS", "0")] {
            let error = await #expect(throws: MetricsConfiguration.Invalid.self) {
                try await MetricsConfiguration.load(environment: [variable: value], configurationFile: missing)
            }
            #expect(error?.description.hasPrefix(variable) == true, "\(error?.description ?? "no error")")
        }
    }

    @Test func aDimensionWithoutDataIsLeftOutAndTheWeightsRenormalised() {
        // Four complaints, none resolved or answered yet, two guest notes.
        let totals = Self.figures(volume: 4, notes: 2)
        let index = QualityIndex.compute(hotel: .init(id: "H1"), month: "2026-11", totals: totals, days: 30, settings: .init())
        #expect(index.dimensions["reliability"]?.score == nil)
        #expect(index.dimensions["responsiveness"]?.score == nil)
        // No facility, staff or safety complaint, none escalated: tangibles and assurance 100; half a note each: empathy 50.
        #expect(index.dimensions["tangibles"]?.score == 100)
        #expect(index.dimensions["assurance"]?.score == 100)
        #expect(index.dimensions["empathy"]?.score == 50)
        let weights = MetricsSettings.QualityIndex().weights
        let used = [QualityDimension.tangibles, .assurance, .empathy]
        let expected = (100 * weights[.tangibles]! + 100 * weights[.assurance]! + 50 * weights[.empathy]!) / used.reduce(0) { $0 + weights[$1]! }
        #expect(abs((index.score ?? 0) - expected) < 0.1)
        #expect(index.unscoredReason == nil)
    }

    @Test func aMonthWithoutComplaintsHasNoScore() {
        // Nothing registered is no evidence of perfect service (it scored 100): no dimension has a score, and the index says why.
        let index = QualityIndex.compute(hotel: .init(id: "H1"), month: "2026-11", totals: Self.figures(volume: 0), days: 30, settings: .init())
        #expect(index.score == nil)
        #expect(index.unscoredReason == QualityIndex.noComplaints)
        #expect(index.dimensions.count == 5 && index.dimensions.values.allSatisfy { $0.score == nil })
    }
}
