import Access
import ComplaintStore
import Foundation
import Hummingbird
import Logging
import NIOCore
import Prometheus
import Synchronization

/// One dependency a service needs before it can do its work (PostgreSQL, Kafka).
public struct ReadinessCheck: Sendable {
    public var name: String
    public var check: @Sendable () async throws -> Void

    public init(name: String, check: @escaping @Sendable () async throws -> Void) {
        self.name = name
        self.check = check
    }
}

/// The body of `/health/live` and a passing `/health/ready`.
struct HealthStatus: Codable, Sendable {
    var status: String
}

/// The routes every service exposes to its orchestrator and to Prometheus:
///
/// - `GET /health/live` — 200 while the process runs (restart me if this fails);
/// - `GET /health/ready` — 200 when every ``ReadinessCheck`` of `readiness` passes within `timeout`,
///   else 503 with an RFC 9457 problem+json naming the failing checks (send me no work). Only their
///   names: the routes answer anyone who reaches the port (intake's is public), and a reason may hold
///   a failed migration's SQL and server detail or a broker's host name. The reasons go to `logger`,
///   once for each change of the failing checks and their reasons;
/// - `GET /health/dependencies` — the same over `readiness` and `dependencies`: what the service uses but
///   its traffic does not wait for (intake's Kafka, whose events wait in the outbox), for dashboards and
///   alerts rather than for routing;
/// - `GET /metrics` — the Prometheus text format of `registry`.
///
/// Probes are coalesced (``CoalescedChecks``): while a round of checks runs, further probes wait for
/// its answer instead of starting their own, and the answer stands for `resultLifetime`, so a flood of
/// probes (several health checkers, or anyone, on a public port) costs one round per `resultLifetime`.
public func addOperationalRoutes<Context: RequestContext>(
    to router: Router<Context>,
    readiness: [ReadinessCheck],
    dependencies: [ReadinessCheck] = [],
    registry: PrometheusCollectorRegistry,
    timeout: Duration = .seconds(3),
    resultLifetime: Duration = .seconds(1),
    logger: Logger = Logger(label: "redress.health")
) {
    let ready = CoalescedChecks(readiness, timeout: timeout, resultLifetime: resultLifetime, logger: logger, route: "/health/ready")
    let all = CoalescedChecks(
        readiness + dependencies, timeout: timeout, resultLifetime: resultLifetime, logger: logger, route: "/health/dependencies")
    router.get("health/live") { _, _ in HealthStatus(status: "live") }
    router.get("health/ready") { _, _ -> HealthStatus in
        try await ready.status()
    }
    router.get("health/dependencies") { _, _ -> HealthStatus in
        try await all.status()
    }
    router.get("metrics") { _, _ in
        Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
    }
}

/// One round of readiness checks shared by every probe that arrives while it runs, its answer reused
/// for a while: each round costs a `SELECT 1` and blocking librdkafka metadata calls
/// on one serial queue, and uncoalesced probes queued them without bound.
final class CoalescedChecks: Sendable {
    private let checks: [ReadinessCheck]
    private let timeout: Duration
    private let resultLifetime: Duration
    private let logger: Logger
    private let route: String
    private let state = Mutex<(running: Task<[Failure], Never>?, last: (failures: [Failure], at: ContinuousClock.Instant)?)>((nil, nil))
    /// The failures the last round logged: a probe every second logs a change, not every round.
    private let logged = Mutex<[Failure]>([])

    /// A failing check: its name, which callers see, and its reason, which only the log does.
    struct Failure: Sendable, Hashable {
        var name: String
        var reason: String
    }

    init(_ checks: [ReadinessCheck], timeout: Duration, resultLifetime: Duration, logger: Logger, route: String) {
        self.checks = checks
        self.timeout = timeout
        self.resultLifetime = resultLifetime
        self.logger = logger
        self.route = route
    }

    /// Ready, or a 503 problem naming every failing check (by name only; the reasons are logged).
    func status() async throws -> HealthStatus {
        let failures = await failures()
        guard failures.isEmpty else {
            throw Problem.notReady("failing checks: \(failures.map(\.name).joined(separator: ", ")) (the reasons are in the service's log)")
        }
        return HealthStatus(status: "ready")
    }

    /// The failing checks of the round running now, of one that ended less than `resultLifetime` ago,
    /// or of a new round.
    func failures() async -> [Failure] {
        enum Next { case known([Failure]), wait(Task<[Failure], Never>) }
        let next = state.withLock { state -> Next in
            if let last = state.last, ContinuousClock.now - last.at < resultLifetime { return .known(last.failures) }
            if let running = state.running { return .wait(running) }
            let (checks, timeout) = (self.checks, self.timeout)
            let running = Task {
                let failures = await checkAll(checks, timeout: timeout)
                self.state.withLock { $0 = (nil, (failures, ContinuousClock.now)) }
                self.log(failures)
                return failures
            }
            state.running = running
            return .wait(running)
        }
        switch next {
        case .known(let failures): return failures
        case .wait(let running): return await running.value
        }
    }
}

extension CoalescedChecks {
    /// Logs the failing checks with their reasons when they differ from the last round's.
    private func log(_ failures: [Failure]) {
        let previous = logged.withLock { last in defer { last = failures }; return last }
        guard failures != previous else { return }
        if failures.isEmpty {
            logger.info("health checks pass again", metadata: ["health.route": "\(route)"])
            return
        }
        logger.warning("health checks failing", metadata: [
            "health.route": "\(route)",
            LoggingKeys.error: "\(failures.map { "\($0.name): \($0.reason)" }.joined(separator: "; "))",
        ])
    }
}

/// Runs `checks` side by side; the failing ones, with their errors.
private func checkAll(_ checks: [ReadinessCheck], timeout: Duration) async -> [CoalescedChecks.Failure] {
    let failures = await withTaskGroup(of: CoalescedChecks.Failure?.self) { group in
        for check in checks {
            group.addTask {
                do {
                    try await withDeadline(timeout) { try await check.check() }
                    return nil
                } catch {
                    return CoalescedChecks.Failure(name: check.name, reason: "\(error)")
                }
            }
        }
        var failures: [CoalescedChecks.Failure] = []
        for await failure in group { if let failure { failures.append(failure) } }
        return failures.sorted { ($0.name, $0.reason) < ($1.name, $1.reason) }
    }
    return failures
}

extension HealthStatus: ResponseEncodable {}
