import Access
import ComplaintStore
import Foundation
import Hummingbird
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
///   else 503 with an RFC 9457 problem+json naming the failing dependency (send me no work);
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
    resultLifetime: Duration = .seconds(1)
) {
    let ready = CoalescedChecks(readiness, timeout: timeout, resultLifetime: resultLifetime)
    let all = CoalescedChecks(readiness + dependencies, timeout: timeout, resultLifetime: resultLifetime)
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
/// for a while: each round costs a `SELECT 1` on the shared pool and blocking librdkafka metadata calls
/// on one serial queue, and uncoalesced probes queued them without bound.
final class CoalescedChecks: Sendable {
    private let checks: [ReadinessCheck]
    private let timeout: Duration
    private let resultLifetime: Duration
    private let state = Mutex<(running: Task<[String], Never>?, last: (failures: [String], at: ContinuousClock.Instant)?)>((nil, nil))

    init(_ checks: [ReadinessCheck], timeout: Duration, resultLifetime: Duration) {
        self.checks = checks
        self.timeout = timeout
        self.resultLifetime = resultLifetime
    }

    /// Ready, or a 503 problem naming every failing check.
    func status() async throws -> HealthStatus {
        let failures = await failures()
        guard failures.isEmpty else { throw Problem.notReady(failures.joined(separator: "; ")) }
        return HealthStatus(status: "ready")
    }

    /// The failing checks of the round running now, of one that ended less than `resultLifetime` ago,
    /// or of a new round.
    func failures() async -> [String] {
        enum Next { case known([String]), wait(Task<[String], Never>) }
        let next = state.withLock { state -> Next in
            if let last = state.last, ContinuousClock.now - last.at < resultLifetime { return .known(last.failures) }
            if let running = state.running { return .wait(running) }
            let (checks, timeout) = (self.checks, self.timeout)
            let running = Task {
                let failures = await checkAll(checks, timeout: timeout)
                self.state.withLock { $0 = (nil, (failures, ContinuousClock.now)) }
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

/// Runs `checks` side by side; the failing ones, named with their errors.
private func checkAll(_ checks: [ReadinessCheck], timeout: Duration) async -> [String] {
    let failures = await withTaskGroup(of: String?.self) { group in
        for check in checks {
            group.addTask {
                do {
                    try await withDeadline(timeout) { try await check.check() }
                    return nil
                } catch {
                    return "\(check.name): \(error)"
                }
            }
        }
        var failures: [String] = []
        for await failure in group { if let failure { failures.append(failure) } }
        return failures.sorted()
    }
    return failures
}

extension HealthStatus: ResponseEncodable {}
