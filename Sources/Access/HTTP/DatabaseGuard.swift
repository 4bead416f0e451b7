import ComplaintStore
import Logging
import NIOConcurrencyHelpers

/// Bounds an HTTP request's database work and turns an unreachable PostgreSQL into a prompt 503.
///
/// Every call has a deadline: ``timeout`` for each statement, which the server enforces when the
/// request's store bounds its statements by it (`StageStore.boundingStatements(by:)`), and a little
/// more for the whole call. A statement the server cancelled (a lock held elsewhere) answers 503 for
/// that request alone. When a call finds the database unreachable (a refused connection, the whole
/// call's deadline passed), the guard *opens* for ``cooldown``: requests meanwhile answer 503 at once instead
/// of each waiting the full deadline, except one probe at a time that tries the database and closes the
/// guard when it answers. Serialization conflicts, deadlocks and a conflicting row deleted concurrently (``ConflictingRowVanished``) are retried twice.
public final class DatabaseGuard: Sendable {
    public let timeout: Duration
    public let cooldown: Duration
    private let logger: Logger
    private struct State {
        var openUntil: ContinuousClock.Instant?
        var probing = false
    }
    private let state = NIOLockedValueBox(State())
    /// How much longer than ``timeout`` a whole call may take before the guard gives up on the database:
    /// room for the server to cancel a statement and say so.
    static let grace: Duration = .seconds(1)

    public init(timeout: Duration, cooldown: Duration = .seconds(2), logger: Logger) {
        self.timeout = timeout
        self.cooldown = cooldown
        self.logger = logger
    }

    /// Runs `work` under the guard.
    /// - Throws: ``Problem/unavailable(_:retryAfter:)`` when the database is (or was just found) away;
    ///   `work`'s own errors otherwise.
    public func run<Result: Sendable>(_ work: @escaping @Sendable () async throws -> Result) async throws -> Result {
        let isProbe = try admit()
        defer { if isProbe { state.withLockedValue { $0.probing = false } } }
        var attempt = 0
        while true {
            attempt += 1
            do {
                let result = try await withDeadline(timeout + Self.grace, work)
                if isProbe { state.withLockedValue { $0.openUntil = nil } }
                return result
            } catch is DeadlineExceeded {
                trip("the database did not answer within \(timeout + Self.grace)")
                throw Problem.unavailable("the database did not answer within \(timeout + Self.grace)")
            } catch let error where PostgresErrorClassifier.sqlState(of: error) == "57014" {
                // The server cancelled a statement past `timeout`: this request waited (for a lock, on a
                // slow plan), the database itself answers.
                throw Problem.unavailable("the database did not finish this request within \(timeout); retry shortly", retryAfter: 1)
            } catch let error where PostgresErrorClassifier.isTransient(error) {
                if PostgresErrorClassifier.isConflict(error) {
                    if attempt < 3 { continue }
                    throw Problem.unavailable("the database kept reporting conflicts; retry shortly", retryAfter: 1)
                }
                trip("\(String(reflecting: error))")
                throw Problem.unavailable("the database is unavailable; retry shortly")
            }
        }
    }

    /// Lets a call through while the guard is closed, or as the one probe once the cooldown passed.
    private func admit() throws(Problem) -> Bool {
        let now = ContinuousClock.now
        let verdict: Bool? = state.withLockedValue { state in
            guard let openUntil = state.openUntil else { return false }
            if now >= openUntil, !state.probing {
                state.probing = true
                return true
            }
            return nil
        }
        guard let isProbe = verdict else {
            throw Problem.unavailable("the database is unavailable; retry shortly", retryAfter: 2)
        }
        return isProbe
    }

    private func trip(_ reason: String) {
        let wasClosed = state.withLockedValue { state -> Bool in
            defer { state.openUntil = ContinuousClock.now + cooldown }
            return state.openUntil == nil
        }
        if wasClosed {
            logger.error("database unavailable; answering 503 until it returns", metadata: ["error": "\(reason)"])
        }
    }
}
