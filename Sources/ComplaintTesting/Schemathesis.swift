import Access
import EmbeddedDefault
import Foundation
import PostgresNIO

/// A service's HTTP API fuzzed from its OpenAPI document by a tool we did not write (schemathesis,
/// from PyPI; `make deps` installs it): every service's tests run the same bounded check, so a
/// request that crashes a handler or answers outside the document fails the suite.
public enum Schemathesis {
    /// schemathesis's `st`, if it is on the PATH (for `.enabled(if:)`).
    public static let executable: String? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/st" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    /// Which checks must hold; `SCHEMATHESIS_CHECKS` overrides them. `negative_data_rejection` is left
    /// to manual runs: it judges `format: email` by schemathesis's own idea of an address, so whether a
    /// disagreement turns up in 60 s varies from run to run.
    public static let checks = ProcessInfo.processInfo.environment["SCHEMATHESIS_CHECKS"]
        ?? "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance"

    /// The repository root, where `services/<name>/openapi.yaml` live.
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// What one run printed and whether it found nothing.
    public struct Run: Sendable {
        public var passed: Bool
        /// The end of what `st` printed (its summary and any failures), for the failure message.
        public var tail: String
    }

    /// Whether a run that exited non-zero found nothing wrong with the API: no failed check, and
    /// every error in its summary schemathesis's own ("Runtime Error: 1" — hypothesis failing to
    /// build a strategy, seen in one of the first ten runs against the assignment API), not a network
    /// error or a timeout, which would be the API's.
    static func onlyToolErrors(_ output: String) -> Bool {
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard !lines.contains(where: { $0.contains("FAILURES") || $0.hasPrefix("Failures:") }),
            let start = lines.lastIndex(of: "Errors:")
        else { return false }
        let errors = lines[(start + 1)...].prefix { !$0.isEmpty }
        return !errors.isEmpty && errors.allSatisfy { $0.contains("Runtime Error") }
    }

    /// Whether the report counts at least one passed test case (`✅ 25 passed`): a run that generated
    /// nothing, or whose every case errored, proves nothing.
    static func testedSomething(_ report: String) -> Bool {
        report.matches(of: /(\d+) passed/).contains { Int($0.output.1).map { $0 > 0 } ?? false }
    }

    /// Runs ``run(service:base:key:)`` with a new admin key of `keys` whose rate limit no run reaches.
    public static func run(service: String, base: String, keys: APIKeyStore, client: PostgresClient) async throws -> Run {
        let admin = try await keys.create(
            name: "schemathesis-\(service)", role: .admin, hotels: [], ratePerSecond: 1_000_000, client: client, logger: .complaintTest)
        return try await run(service: service, base: base, key: admin.key.description)
    }

    /// Runs `st run` on `services/<service>/openapi.yaml` against `base` with an admin `key`, for at
    /// most `SCHEMATHESIS_MAX_TIME` seconds (default 60) with a fixed seed. Give it a key without a
    /// rate limit, or the limiter answers most requests with 429 and little is tested.
    public static func run(service: String, base: String, key: String) async throws -> Run {
        guard let executable else { throw NotInstalled() }
        let maxTime = ProcessInfo.processInfo.environment["SCHEMATHESIS_MAX_TIME"] ?? "60"
        let arguments = [
            "run", "services/\(service)/openapi.yaml", "--url", base,
            "-H", "Authorization: Bearer \(key)",
            "--checks", checks, "--max-examples", "25", "--max-time", maxTime, "--workers", "2",
            "--seed", "20261124", "--generation-database", "none", "--no-color", "--request-timeout", "10",
            "--suppress-health-check", "all",
        ]
        // Through swift-subprocess: blocking a thread of the cooperative pool (two on this machine)
        // on schemathesis starves the very server it is talking to.
        let result = try await ProgramRun.run(
            executable, arguments, environment: ["SCHEMATHESIS_TELEMETRY": "false"], workingDirectory: repository.path)
        let text = result.output
        let status = result.signalled ? -1 : result.status
        let ran = testedSomething(text)
        let clean = status == 0 || onlyToolErrors(text)
        // Its report is on standard output; what Python printed to standard error (warnings, a traceback) after it.
        let tail = String(result.standardOutput.suffix(6000)) + (result.standardError.isEmpty ? "" : "\n" + result.standardError.suffix(2000))
        return Run(passed: ran && clean, tail: tail)
    }

    /// `st` is not on the PATH.
    public struct NotInstalled: Error, CustomStringConvertible {
        public var description: String { "schemathesis (st) is not installed: make deps" }
    }
}
