import ComplaintTesting
import Testing

/// The KPI, dashboard and Prometheus API fuzzed from its OpenAPI document (``Schemathesis``).
@Suite("Schemathesis against the metrics API", .timeLimit(.minutes(5)), .enabled(if: Schemathesis.executable != nil, "schemathesis (st) is not installed"))
struct MetricsFuzzTests {
    @Test("no 5xx and no undocumented response in a bounded run")
    func fuzz() async throws {
        try await MetricsHarness.run { harness in
            let run = try await Schemathesis.run(service: "metrics", base: harness.base, keys: harness.keys, client: harness.client)
            let passed = run.passed
            #expect(passed, "schemathesis found problems:\n\(run.tail)")
        }
    }
}
