import ComplaintTesting
import Testing

/// The organisation and dispatch API fuzzed from its OpenAPI document (``Schemathesis``), over the
/// harness's two hotels, so generated hotel and staff ids sometimes exist.
@Suite("Schemathesis against the assignment API", .timeLimit(.minutes(5)), .enabled(if: Schemathesis.executable != nil, "schemathesis (st) is not installed"))
struct AssignmentFuzzTests {
    @Test("no 5xx and no undocumented response in a bounded run")
    func fuzz() async throws {
        try await AssignmentHarness.run { harness in
            let run = try await Schemathesis.run(service: "assignment", base: harness.base, keys: harness.keys, client: harness.client)
            let passed = run.passed
            #expect(passed, "schemathesis found problems:\n\(run.tail)")
        }
    }
}
