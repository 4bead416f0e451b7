import ComplaintPipeline
@testable import ComplaintTesting
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

/// How a schemathesis run's summary is judged: its own crashes are not the API's failures.
@Suite("Schemathesis's verdict")
struct SchemathesisVerdictTests {
    static func summary(errors: [String], failures: Bool = false) -> String {
        (failures ? "=================== FAILURES ===================\n_____ POST /v1/complaints _____\n1. Server error\n\n" : "")
            + "=================== SUMMARY ===================\n\nTest Phases:\n  ✅ Examples\n\n"
            + (errors.isEmpty ? "" : "Errors:\n" + errors.map { "  🚫 \($0)\n" }.joined() + "\n")
            + "Test cases:\n  3504 generated, 3504 passed\n"
    }

    @Test("only schemathesis's runtime errors pass; a failed check, a network error or a timeout does not", arguments: [
        (summary(errors: ["Runtime Error: 1"]), true),
        (summary(errors: ["Runtime Error: 2"]), true),
        (summary(errors: []), false),
        (summary(errors: ["Runtime Error: 1"], failures: true), false),
        (summary(errors: ["Runtime Error: 1", "Network Error: 3"]), false),
        (summary(errors: ["Timeout Error: 1"]), false),
    ])
    func verdict(output: String, toolOnly: Bool) {
        #expect(Schemathesis.onlyToolErrors(output) == toolOnly, "\(output)")
    }

    @Test("a run counts only when some test case passed", arguments: [
        (summary(errors: []), true),
        ("Test cases:\n  0 generated, 0 passed\n", false),
        ("Test cases:\n  12 generated, 12 errored\n  ✅ Examples passed (phase)\n", false),
        ("No test cases were generated; every operation was skipped as passed-over\n", false),
    ])
    func testedSomething(output: String, tested: Bool) {
        #expect(Schemathesis.testedSomething(output) == tested, "\(output)")
    }
}
