import Access
import ComplaintEvents
import ComplaintMetrics
import ComplaintPipeline
import ComplaintStore
import ComplaintTesting
import Foundation
import Testing

/// The manager's dashboard in a real headless browser (chromium + chromedriver via python3-selenium): it
/// loads in Chinese, shows the numbers the API returns, follows the live stream, and shows a complaint
/// that arrives while it is open without a reload. Screenshots go to `.build/test-screenshots/`.
@Suite("metrics dashboard in the browser", .timeLimit(.minutes(3)))
struct DashboardTests {
    static let support = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Support")
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The JSON lines the browser driver printed so far.
    static func snapshots(_ browser: ChildProcess) -> [[String: Any]] {
        browser.output.split(separator: "\n").compactMap { line in
            guard line.hasPrefix("{") else { return nil }
            return (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
        }
    }

    /// No error reported (JSON null arrives as NSNull).
    static func noError(_ snapshot: [String: Any]) -> Bool {
        snapshot["error"] == nil || snapshot["error"] is NSNull
    }

    static func number(_ value: Any?) -> Double? {
        (value as? String).flatMap(Double.init)
    }

    @Test("loads in zh-CN with the API's numbers, then a new complaint appears live")
    func dashboard() async throws {
        var parts = MetricsHarness.quietParts()
        parts.dashboard = try Dashboard(folder: Self.repository.appendingPathComponent("services/metrics/dashboard").path)
        try await MetricsHarness.run(parts: parts) { harness in
            let now = Date()
            var first = try ComplaintStory(hotel: "SHA-PD01", registeredAt: now.addingTimeInterval(-3000), category: .maintenance)
            first.acknowledge(after: 240)
            first.clock(.met, .acknowledge, after: 240)
            var second = try ComplaintStory(hotel: "SHA-PD01", registeredAt: now.addingTimeInterval(-1800), category: .noise, severity: .serious)
            second.clock(.breached, .acknowledge, after: 300)
            second.clock(.escalated(Escalation(level: 1, escalateTo: .departmentHead)), .acknowledge, after: 301)
            second.acknowledge(after: 900)
            let stories = [first, second]
            try await harness.publish(stories)
            try await harness.waitForApplied(KPIStageTests.eventCount(stories))
            let manager = try await harness.key(.manager, hotels: ["SHA-PD01"])
            let api = try await harness.kpis("hotel=SHA-PD01", key: manager)

            let shots = Self.repository.appendingPathComponent(".build/test-screenshots")
            try FileManager.default.createDirectory(at: shots, withIntermediateDirectories: true)
            let screenshot = shots.appendingPathComponent("metrics-dashboard.png").path
            for name in ["metrics-dashboard.png", "metrics-dashboard-after.png"] { try? FileManager.default.removeItem(at: shots.appendingPathComponent(name)) }
            let browser = try ChildProcess(
                URL(fileURLWithPath: "/usr/bin/python3"),
                arguments: [Self.support.appendingPathComponent("dashboard_browser.py").path, harness.base, manager, "SHA-PD01", screenshot, "load"],
                interactive: true)
            defer { browser.stop() }
            let loaded = await eventually(timeout: .seconds(60)) { !Self.snapshots(browser).isEmpty || !browser.isRunning }
            let page = try #require(Self.snapshots(browser).first, "the browser printed nothing: \(browser.output)")
            #expect(loaded && Self.noError(page), "\(page)")
            #expect(page["lang"] as? String == "zh-CN")
            #expect(page["liveState"] as? String == "live")
            #expect((page["headerText"] as? String)?.contains("瑞德斯上海浦东酒店") == true, "\(page)")
            let tiles = page["tiles"] as? [String: Any] ?? [:]
            #expect(Self.number(tiles["volume"]) == Double(api.totals.volume))
            #expect(Self.number(tiles["open"]) == Double(api.backlog.open))
            #expect(Self.number(tiles["ack-median"]) == api.totals.timeToAcknowledge.medianSeconds)
            #expect(Self.number(tiles["ack-compliance"]) == api.totals.acknowledgeSLA.compliance)
            #expect(Self.number(tiles["escalations"]) == 1)
            #expect(Set(page["openComplaints"] as? [String] ?? []) == Set(stories.map { $0.id.uuidString.lowercased() }))
            #expect((page["consoleErrors"] as? [Any] ?? []).isEmpty, "\(page["consoleErrors"] ?? "")")
            #expect(await eventually(timeout: .seconds(30)) { FileManager.default.fileExists(atPath: screenshot) })

            // A complaint arrives while the page is open: the live stream brings it without a reload.
            let refreshes = page["refreshes"] as? Int ?? 1
            let third = try ComplaintStory(hotel: "SHA-PD01", registeredAt: Date(), category: .safetySecurity, severity: .serious)
            try await harness.publish([third])
            try browser.send("wait-refresh \(refreshes)")
            let updated = await eventually(timeout: .seconds(40)) { Self.snapshots(browser).count >= 2 || !browser.isRunning }
            let after = try #require(Self.snapshots(browser).dropFirst().first, "no second snapshot: \(browser.output)")
            #expect(updated && Self.noError(after), "\(after)")
            #expect((after["openComplaints"] as? [String] ?? []).contains(third.id.uuidString.lowercased()))
            let afterTiles = after["tiles"] as? [String: Any] ?? [:]
            #expect(Self.number(afterTiles["volume"]) == Double(api.totals.volume + 1))
            #expect(!(after["liveFeed"] as? [Any] ?? []).isEmpty)

            // Updates lost while the service's LISTEN connection was down: the stream says resync, and the page reads everything again.
            let channel = FactRecorder.liveChannel(schema: harness.schema.rawValue)
            let client = harness.client
            #expect(await eventually(timeout: .seconds(30)) { await LiveStreamTests.cutListening(on: channel, client: client) > 0 })
            try browser.send("wait-resync \(after["refreshes"] as? Int ?? refreshes)")
            let resynced = await eventually(timeout: .seconds(40)) { Self.snapshots(browser).count >= 3 || !browser.isRunning }
            let afterResync = try #require(Self.snapshots(browser).dropFirst(2).first, "no snapshot after the resync: \(browser.output)")
            #expect(resynced && Self.noError(afterResync), "\(afterResync)")
            #expect((afterResync["resyncs"] as? Int ?? 0) >= 1)
            try browser.send("quit")
            #expect(await eventually(timeout: .seconds(30)) { FileManager.default.fileExists(atPath: shots.appendingPathComponent("metrics-dashboard-after.png").path) })
            print("dashboard screenshots: \(screenshot) and its -after twin")
        }
    }
}
