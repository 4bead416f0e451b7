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

    /// `default-src` does not cover `frame-ancestors`: without it any site could frame the dashboard
    /// (clickjacking a manager's session).
    @Test("the page may not be framed by another site")
    func notFramed() async throws {
        var parts = MetricsHarness.quietParts()
        parts.dashboard = try Dashboard(folder: Self.repository.appendingPathComponent("services/metrics/dashboard").path)
        try await MetricsHarness.run(parts: parts) { harness in
            let reply = try await harness.get("/")
            #expect(reply.status == 200)
            let policy = reply.headers["content-security-policy"] ?? ""
            #expect(policy.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }.contains("frame-ancestors 'none'"), "\(policy)")
        }
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
            // One complaint in London, the other hotel of the key, picked later from the menu.
            let london = try ComplaintStory(hotel: "LON-KX02", registeredAt: now.addingTimeInterval(-600), category: .noise)
            try await harness.publish(stories + [london])
            try await harness.waitForApplied(KPIStageTests.eventCount(stories + [london]))
            let manager = try await harness.key(.manager, hotels: ["SHA-PD01", "LON-KX02"])
            let api = try await harness.kpis("hotel=SHA-PD01", key: manager)

            let shots = Self.repository.appendingPathComponent(".build/test-screenshots")
            try FileManager.default.createDirectory(at: shots, withIntermediateDirectories: true)
            let screenshot = shots.appendingPathComponent("metrics-dashboard.png").path
            for name in ["metrics-dashboard.png", "metrics-dashboard-after.png"] { try? FileManager.default.removeItem(at: shots.appendingPathComponent(name)) }
            let browser = try await ChildProcess(
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

            // Another event: its item is added on top, the earlier ones stay as they are. The list is
            // aria-live: rebuilding it on every event made screen readers read all of it out each time.
            try browser.send("mark-feed")
            #expect(await eventually(timeout: .seconds(20)) { Self.snapshots(browser).count >= 3 || !browser.isRunning })
            let marked = try #require(Self.snapshots(browser).dropFirst(2).first?["marked"] as? Int, "\(browser.output)")
            #expect(marked >= 1)
            let fourth = try ComplaintStory(hotel: "SHA-PD01", registeredAt: Date(), category: .cleanliness)
            try await harness.publish([fourth])
            try browser.send("wait-refresh \(after["refreshes"] as? Int ?? refreshes)")
            #expect(await eventually(timeout: .seconds(40)) { Self.snapshots(browser).count >= 4 || !browser.isRunning })
            let afterFourth = try #require(Self.snapshots(browser).dropFirst(3).first, "no snapshot after the fourth complaint: \(browser.output)")
            #expect(Self.noError(afterFourth), "\(afterFourth)")
            #expect(afterFourth["feedMarked"] as? Int == marked, "the feed was rebuilt: \(afterFourth)")
            #expect((afterFourth["liveFeed"] as? [Any] ?? []).count > marked, "\(afterFourth)")

            // Updates lost while the service's LISTEN connection was down: the stream says resync, and the page reads everything again.
            let channel = FactRecorder.liveChannel(schema: harness.schema.rawValue)
            let client = harness.client
            #expect(await eventually(timeout: .seconds(30)) { await LiveStreamTests.cutListening(on: channel, client: client) > 0 })
            try browser.send("wait-resync \(afterFourth["refreshes"] as? Int ?? refreshes)")
            let resynced = await eventually(timeout: .seconds(40)) { Self.snapshots(browser).count >= 5 || !browser.isRunning }
            let afterResync = try #require(Self.snapshots(browser).dropFirst(4).first, "no snapshot after the resync: \(browser.output)")
            #expect(resynced && Self.noError(afterResync), "\(afterResync)")
            #expect((afterResync["resyncs"] as? Int ?? 0) >= 1)

            // London picked while a refresh of Shanghai (started by a live event) is still running: London's
            // panels fill. Before, the request for London was dropped when Shanghai's refresh ended, and
            // they stayed blank until London's next event.
            try browser.send("switch-during-refresh LON-KX02")
            #expect(await eventually(timeout: .seconds(30)) { Self.snapshots(browser).count >= 6 || !browser.isRunning }, "\(browser.output)")
            let fifth = try ComplaintStory(hotel: "SHA-PD01", registeredAt: Date(), category: .maintenance)
            try await harness.publish([fifth])
            #expect(await eventually(timeout: .seconds(40)) { Self.snapshots(browser).count >= 7 || !browser.isRunning })
            let switched = try #require(Self.snapshots(browser).dropFirst(6).first, "no snapshot after picking London: \(browser.output)")
            #expect(Self.noError(switched), "\(switched)")
            #expect(switched["hotel"] as? String == "LON-KX02", "\(switched)")
            #expect(Self.number((switched["tiles"] as? [String: Any])?["volume"]) == 1, "\(switched)")
            #expect(switched["openComplaints"] as? [String] == [london.id.uuidString.lowercased()], "\(switched)")
            try browser.send("quit")
            #expect(await eventually(timeout: .seconds(30)) { FileManager.default.fileExists(atPath: shots.appendingPathComponent("metrics-dashboard-after.png").path) })
            print("dashboard screenshots: \(screenshot) and its -after twin")
        }
    }

    @Test("a wall display whose first load meets the service restarting comes back by itself; a backlog past the list is counted")
    func recoversFromFailedStart() async throws {
        var parts = MetricsHarness.quietParts()
        // A heartbeat longer than the page's fixed 45 s watchdog: it aborted and reconnected a quiet stream.
        parts.liveHeartbeat = .seconds(60)
        parts.dashboard = try Dashboard(folder: Self.repository.appendingPathComponent("services/metrics/dashboard").path)
        try await MetricsHarness.run(parts: parts) { harness in
            let story = try ComplaintStory(hotel: "SHA-PD01", registeredAt: Date().addingTimeInterval(-600), category: .maintenance)
            try await harness.publish([story])
            try await harness.waitForApplied(KPIStageTests.eventCount([story]))
            let manager = try await harness.key(.manager, hotels: ["SHA-PD01"])
            let screenshot = FileManager.default.temporaryDirectory.appendingPathComponent("metrics-dashboard-outage-\(UUID().uuidString.prefix(8)).png").path
            defer { try? FileManager.default.removeItem(atPath: screenshot) }
            // The first GET v1/hotels is answered 503; the driver waits (20 s) for the page to load and go live.
            let browser = try await ChildProcess(
                URL(fileURLWithPath: "/usr/bin/python3"),
                arguments: [Self.support.appendingPathComponent("dashboard_browser.py").path, harness.base, manager, "SHA-PD01", screenshot, "load-after-outage"],
                interactive: true)
            defer { browser.stop() }
            #expect(await eventually(timeout: .seconds(60)) { !Self.snapshots(browser).isEmpty || !browser.isRunning })
            let page = try #require(Self.snapshots(browser).first, "the browser printed nothing: \(browser.output)")
            #expect(Self.noError(page), "the page did not come back after the outage: \(page)")
            #expect(page["hotelsRefused"] as? Int == 1, "\(page)")
            // The page waits three of the service's heartbeats (60 s here) before taking the stream for dead.
            #expect(page["streamIdleLimit"] as? String == "180000", "\(page)")
            // The first stream failed, and the page counted down to the next try: screen readers heard the
            // phase ("offline, retrying"), not a new number every second.
            let announced = page["statusAnnouncements"] as? [String] ?? []
            #expect(announced.contains("离线，稍后重连"), "\(announced)")
            #expect(!announced.contains { $0.contains(where: \.isNumber) }, "the countdown was announced: \(announced)")
            #expect(page["liveState"] as? String == "live")
            #expect(Self.number((page["tiles"] as? [String: Any])?["volume"]) == 1, "\(page)")

            // A backlog past the 500 listed (/v1/open answers faked in the page: 1,800 open, the unlisted
            // serious): the summary counts all of them and says the table is the first of more. It
            // counted the list: "1 open", and 0 serious.
            try browser.send("fake-open-total 1800")
            #expect(await eventually(timeout: .seconds(20)) { Self.snapshots(browser).count >= 2 || !browser.isRunning }, "\(browser.output)")
            let another = try ComplaintStory(hotel: "SHA-PD01", registeredAt: Date(), category: .noise)
            try await harness.publish([another])
            #expect(await eventually(timeout: .seconds(40)) { Self.snapshots(browser).count >= 3 || !browser.isRunning })
            let backlog = try #require(Self.snapshots(browser).dropFirst(2).first, "no snapshot after the backlog: \(browser.output)")
            #expect(Self.noError(backlog), "\(backlog)")
            #expect(backlog["openTotal"] as? String == "1800", "\(backlog)")
            #expect(Int(backlog["seriousOpen"] as? String ?? "") ?? 0 >= 1798, "\(backlog)")
            #expect((backlog["openMore"] as? String)?.contains("1,800") == true || (backlog["openMore"] as? String)?.contains("1800") == true, "\(backlog)")
            try browser.send("quit")
        }
    }
    /// Each event put the refresh off by another 300 ms: a hotel with an event every 200 ms (a load test,
    /// a fire alarm) never saw its KPIs, open list or alerts refresh while the feed scrolled.
    @Test("under a steady stream of events the panels still refresh, at most 5 s after the first")
    func refreshesDuringBurst() async throws {
        var parts = MetricsHarness.quietParts()
        parts.dashboard = try Dashboard(folder: Self.repository.appendingPathComponent("services/metrics/dashboard").path)
        try await MetricsHarness.run(parts: parts) { harness in
            let manager = try await harness.key(.manager, hotels: ["SHA-PD01"])
            let screenshot = FileManager.default.temporaryDirectory.appendingPathComponent("metrics-dashboard-burst-\(UUID().uuidString.prefix(8)).png").path
            defer { try? FileManager.default.removeItem(atPath: screenshot) }
            // The page's first stream is made in the page: an event every 200 ms for 8 s.
            let browser = try await ChildProcess(
                URL(fileURLWithPath: "/usr/bin/python3"),
                arguments: [Self.support.appendingPathComponent("dashboard_browser.py").path, harness.base, manager, "SHA-PD01", screenshot, "load-with-burst"],
                interactive: true)
            defer { browser.stop() }
            #expect(await eventually(timeout: .seconds(60)) { !Self.snapshots(browser).isEmpty || !browser.isRunning })
            let page = try #require(Self.snapshots(browser).first, "the browser printed nothing: \(browser.output)")
            #expect(Self.noError(page), "\(page)")
            #expect((page["refreshesDuringBurst"] as? Int ?? 0) >= 1, "no refresh during 8 s of events: \(page)")
            try browser.send("quit")
        }
    }
}
