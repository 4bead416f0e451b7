import ComplaintTesting
import Foundation
import Testing

/// Arguments the operator tools refuse before they touch Kafka or the database (exit 64, the option
/// named). Before, `apikey create` stored keys for "" or "A,B" (hotels no event carries), `replay
/// classifier --show -1` trapped after the whole replay, `--timeout 0` gave up at once, `metrics rebuild`
/// compared an empty range, and `deadletter redrive --service` with a misspelt name printed "no dead
/// letter selected" and exited 0.
@Suite("redress argument checks", .enabled(if: RedressExecutable.url != nil, "redress executable not built"), .timeLimit(.minutes(2)))
struct OperatorInputTests {
    /// A `--data-dir` without an up.env: no database or broker is found there (not the working folder's `.redress`).
    static let noDataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("no-redress-up-\(UUID().uuidString.prefix(8))").path

    /// Each refused command line with the text its refusal must contain. No broker or database is
    /// reachable (`--brokers 127.0.0.1:1`, no DATABASE_URL, a --data-dir without an up.env): a command
    /// that got past its checks would fail differently.
    static let refusals: [(arguments: [String], message: String)] = [
        (["apikey", "create", "--name", "fd-li", "--role", "staff", "--hotel", ""], "--hotel '' is not a hotel id"),
        (["apikey", "create", "--name", "fd-li", "--role", "staff", "--hotel", "LON-KX02,SHA-PD01"], "--hotel 'LON-KX02,SHA-PD01' is not a hotel id"),
        (["apikey", "create", "--name", "fd-li", "--role", "staff", "--hotel", "SHA-PD01", "--hotel", "LON KX02"], "--hotel 'LON KX02' is not a hotel id"),
        (["apikey", "create", "--name", "fd-li", "--role", "staff", "--hotel=-PD01"], "is not a hotel id"),
        (["replay", "classifier", "--show=-1"], "--show must be 0 or more"),
        (["replay", "classifier", "--timeout", "0"], "--timeout must be at least 1 second"),
        (["replay", "classifier", "--timeout=-5"], "--timeout must be at least 1 second"),
        (["metrics", "rebuild", "--from", "2026-12-02", "--to", "2026-12-01"], "--from 2026-12-02 is after --to 2026-12-01"),
        (["replay", "metrics", "--from", "2026-12-02", "--to", "2026-12-01"], "--from 2026-12-02 is after --to 2026-12-01"),
        (["metrics", "rebuild", "--timeout", "0"], "--timeout must be at least 1 second"),
        (["deadletter", "redrive", "--service", "asignment", "--brokers", "127.0.0.1:1", "--inbox-retention-days", "9"], "--service 'asignment' is not a Redress service"),
        (["deadletter", "list", "--service", "redress-clasifier", "--brokers", "127.0.0.1:1"], "--service 'redress-clasifier' is not a Redress service"),
    ]

    @Test("hotel ids, --show, --timeout, a day range and service names are checked before anything is asked of Kafka or the database")
    func refusedBeforeAnyAccess() async throws {
        for (arguments, message) in Self.refusals {
            let result = try await CommandErrorTests.run(arguments + ["--data-dir", Self.noDataDirectory])
            #expect(result.status == 64 && result.output.contains(message), "\(arguments): \(result)")
        }
    }

    @Test("what is valid gets past the checks: to the missing database or broker")
    func acceptedUpToTheConnection() async throws {
        let accepted: [(arguments: [String], message: String)] = [
            (["apikey", "create", "--name", "fd-li", "--role", "staff", "--hotel", "SHA-PD01", "--hotel", "lon-kx02"], "no database: pass --database-url"),
            (["replay", "classifier", "--show", "0", "--timeout", "1"], "no database: pass --database-url"),
            (["metrics", "rebuild", "--from", "2026-12-01", "--to", "2026-12-01"], "no database: pass --database-url"),
        ]
        for (arguments, message) in accepted {
            let result = try await CommandErrorTests.run(arguments + ["--data-dir", Self.noDataDirectory])
            #expect(result.output.contains(message), "\(arguments): \(result)")
        }
        // Either spelling of a real service, any case, is taken: the redrive then asks for the inbox window
        // (none given), still before the broker nobody runs.
        for service in ["Assignment", "redress-sla-watcher"] {
            let result = try await CommandErrorTests.run(["deadletter", "redrive", "--service", service, "--brokers", "127.0.0.1:1"])
            #expect(result.output.contains("say how long the services' inboxes remember an event"), "\(service): \(result)")
        }
    }
}
