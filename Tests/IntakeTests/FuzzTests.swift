import ComplaintPipeline
import Access
import Foundation
import Intake
import Testing

/// schemathesis's `st`, if it is on the PATH.
let schemathesisExecutable: String? = {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
    return path.split(separator: ":").map { "\($0)/st" }.first { FileManager.default.isExecutableFile(atPath: $0) }
}()

/// The API fuzzed from its OpenAPI document by a tool we did not write (schemathesis, from PyPI;
/// `make deps` installs it). Bounded in time; any 5xx, or a response the document does not allow,
/// fails the test.
@Suite("Schemathesis against the OpenAPI document", .timeLimit(.minutes(5)), .enabled(if: schemathesisExecutable != nil, "schemathesis (st) is not installed"))
struct FuzzTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Which checks must hold; `SCHEMATHESIS_CHECKS` overrides them. `negative_data_rejection` is left
    /// to manual runs: it judges `format: email` by schemathesis's own idea of an address, so whether a
    /// disagreement turns up in 60 s varies from run to run (the two it found are fixed in the contract).
    static let checks = ProcessInfo.processInfo.environment["SCHEMATHESIS_CHECKS"]
        ?? "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance"

    @Test("no 5xx and no undocumented response in a bounded run")
    func fuzz() async throws {
        try await IntakeHarness.run(access: { $0.ratePerSecond = 100_000 }) { harness in
            // Some complaints, so that generated ids sometimes exist.
            for _ in 0..<3 { try await harness.submit(IntakeHarness.submission()) }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: try #require(schemathesisExecutable))
            process.currentDirectoryURL = Self.repository
            let maxTime = ProcessInfo.processInfo.environment["SCHEMATHESIS_MAX_TIME"] ?? "60"
            process.arguments = [
                "run", "services/intake/openapi.yaml", "--url", harness.base,
                "-H", "Authorization: Bearer \(harness.admin)",
                "--checks", Self.checks, "--max-examples", "25", "--max-time", maxTime, "--workers", "2",
                "--seed", "20261124", "--generation-database", "none", "--no-color", "--request-timeout", "10",
                "--suppress-health-check", "all",
            ]
            var environment = ProcessInfo.processInfo.environment
            environment["SCHEMATHESIS_TELEMETRY"] = "false"
            process.environment = environment
            let output = Pipe()
            process.standardOutput = output
            process.standardError = output
            try process.run()
            let data = await Task.detached { output.fileHandleForReading.readDataToEndOfFile() }.value
            process.waitUntilExit()
            let text = String(decoding: data, as: UTF8.self)
            #expect(process.terminationStatus == 0, "schemathesis found problems:\n\(text.suffix(6000))")
            #expect(text.contains("passed") || text.contains("Passed") || text.contains("PASSED"), "\(text.suffix(2000))")
        }
    }
}
