import Access
import ComplaintEvents
import ComplaintMetrics
import ComplaintPipeline
import ComplaintTesting
import Foundation
import NIOHTTP1
import Testing

/// The KPI gauges at `/v1/metrics`: the same numbers as the API, admin keys only (every hotel's figures
/// are there; the public `/metrics` has none), labels bounded (no complaint or guest), and both
/// expositions accepted by `promtool check metrics` (Debian's prometheus package).
@Suite("metrics on /metrics", .timeLimit(.minutes(3)))
struct PrometheusTests {
    /// `promtool check metrics` on `exposition`; its complaint, or nil when it passes.
    static func promtool(_ exposition: String) async throws -> String? {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("redress-metrics-\(UUID().uuidString.prefix(8)).prom")
        try exposition.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let promtool = try await ChildProcess(URL(fileURLWithPath: "/bin/sh"), arguments: ["-c", "/usr/bin/promtool check metrics < '\(file.path)'"])
        defer { promtool.stop() }
        // A process still running has no status yet: fail the test instead.
        try #require(await eventually(timeout: .seconds(30)) { !promtool.isRunning }, "promtool did not finish: \(promtool.output)")
        return promtool.terminationStatus == 0 ? nil : promtool.output
    }

    @Test("KPI gauges match the API, only for admin keys, and pass promtool check metrics")
    func gauges() async throws {
        var parts = MetricsHarness.quietParts()
        parts.gauges = .milliseconds(200)
        try await MetricsHarness.run(parts: parts) { harness in
            let now = Date()
            var first = try ComplaintStory(hotel: "SHA-PD01", registeredAt: now.addingTimeInterval(-4000), category: .maintenance)
            first.acknowledge(after: 120)
            first.clock(.met, .acknowledge, after: 120)
            first.resolve(after: 1800, firstContact: true, rootCause: "hvac_failure")
            first.compensate(after: 600, 38_800, "CNY")
            first.followUp(after: 3000, satisfaction: 4, nps: 9)
            var second = try ComplaintStory(hotel: "SHA-PD01", registeredAt: now.addingTimeInterval(-3000), category: .noise, severity: .serious)
            second.clock(.breached, .acknowledge, after: 300)
            // Registered, not classified (the classifier is down) so not assigned either: open, of unknown severity.
            var third = try ComplaintStory(hotel: "SHA-PD01", registeredAt: now.addingTimeInterval(-600))
            third.classified = []
            third.assigned = []
            let stories = [first, second, third]
            try await harness.publish(stories)
            try await harness.waitForApplied(KPIStageTests.eventCount(stories))

            // The gauges refresh on their own clock, so a snapshot read right after the last event may
            // predate it: wait for one that carries every expected figure, then name any that is missing.
            let expected = [
                #"redress_kpi_complaints_30d{hotel="SHA-PD01"} 3"#,
                #"redress_kpi_compensation_spent_month_minor{hotel="SHA-PD01",currency="CNY"} 38800"#,
                #"redress_kpi_time_to_acknowledge_median_seconds{hotel="SHA-PD01"} 120"#,
                #"redress_kpi_sla_compliance_ratio{hotel="SHA-PD01",target="acknowledge"} 0.5"#,
                #"redress_kpi_open_complaints{hotel="SHA-PD01",severity="serious"} 1"#,
                #"redress_kpi_open_complaints{hotel="SHA-PD01",severity="unknown"} 1"#,
                #"redress_kpi_complaints_30d_by{hotel="SHA-PD01",category="noise"} 1"#,
                #"redress_kpi_complaints_30d_by{hotel="SHA-PD01",category="unknown"} 1"#,
                #"redress_kpi_complaints_30d_by{hotel="SHA-PD01",severity="serious"} 1"#,
                #"redress_kpi_complaints_30d_by{hotel="SHA-PD01",channel="\#(ComplaintChannel.frontDesk.rawValue)"} 3"#,
                #"redress_kpi_net_promoter_score{hotel="SHA-PD01"} 100"#,
            ]
            var exposition = ""
            _ = await eventually {
                exposition = (try? await harness.get("/v1/metrics").body) ?? ""
                return expected.allSatisfy { exposition.contains($0) }
            }
            let kpiLines = exposition.split(separator: "\n").filter { $0.contains("redress_kpi") }.joined(separator: "\n")
            for line in expected { #expect(exposition.contains(line), "missing \(line) in:\n\(kpiLines)") }
            // Bounded labels: no complaint id, no guest.
            for story in stories { #expect(!exposition.contains(story.id.uuidString.lowercased())) }
            #expect(!exposition.contains("complaint_id") && !exposition.contains("guest"))

            // When the gauges were last refreshed in full, for a staleness alert (time() - it > a few rounds).
            let refreshed = exposition.split(separator: "\n").first { $0.hasPrefix("redress_kpi_refreshed_timestamp_seconds ") }
            let refreshedAt = refreshed.flatMap { $0.split(separator: " ").last }.flatMap { Double($0) }
            #expect(refreshedAt.map { abs($0 - Date().timeIntervalSince1970) < 120 } == true, "\(refreshed ?? "no redress_kpi_refreshed_timestamp_seconds")")

            let failure = try await Self.promtool(exposition)
            #expect(failure == nil, "promtool check metrics on /v1/metrics: \(failure ?? "")")

            // Every hotel's figures: admin keys only; the public /metrics carries the runtime's metrics, no KPI.
            #expect(try await harness.get("/v1/metrics", key: try await harness.key(.manager, hotels: ["SHA-PD01"])).status == 403)
            #expect(try await plainRequest(.GET, harness.base + "/v1/metrics", key: nil).status == 401)
            let exposed = try await plainRequest(.GET, harness.base + "/metrics", key: nil).body
            #expect(!exposed.contains("redress_kpi") && !exposed.contains("SHA-PD01"))
            let runtimeFailure = try await Self.promtool(exposed)
            #expect(runtimeFailure == nil, "promtool check metrics on /metrics: \(runtimeFailure ?? "")")
        }
    }
}
