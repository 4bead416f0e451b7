import ComplaintPipeline
import ComplaintTesting
import Testing

/// The intake API fuzzed from its OpenAPI document (``Schemathesis``). Bounded in time; any 5xx, or a
/// response the document does not allow, fails the test. It found a crash on `Accept-Language: ;`.
@Suite("Schemathesis against the OpenAPI document", .timeLimit(.minutes(5)), .enabled(if: Schemathesis.executable != nil, "schemathesis (st) is not installed"))
struct FuzzTests {
    @Test("no 5xx and no undocumented response in a bounded run")
    func fuzz() async throws {
        try await IntakeHarness.run(access: { $0.ratePerSecond = 100_000 }) { harness in
            // Some complaints, so that generated ids sometimes exist.
            for _ in 0..<3 { try await harness.submit(IntakeHarness.submission()) }
            let run = try await Schemathesis.run(service: "intake", base: harness.base, key: harness.admin)
            let passed = run.passed
            #expect(passed, "schemathesis found problems:\n\(run.tail)")
        }
    }
}
