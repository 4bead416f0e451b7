import Access
import ComplaintStore
import Foundation
import Hummingbird
import NIOCore
import Prometheus

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
public func addOperationalRoutes<Context: RequestContext>(
    to router: Router<Context>,
    readiness: [ReadinessCheck],
    dependencies: [ReadinessCheck] = [],
    registry: PrometheusCollectorRegistry,
    timeout: Duration = .seconds(3)
) {
    router.get("health/live") { _, _ in HealthStatus(status: "live") }
    router.get("health/ready") { _, _ -> HealthStatus in
        try await checkAll(readiness, timeout: timeout)
    }
    router.get("health/dependencies") { _, _ -> HealthStatus in
        try await checkAll(readiness + dependencies, timeout: timeout)
    }
    router.get("metrics") { _, _ in
        Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
    }
}

/// Runs `checks` side by side: ready, or a 503 problem naming every failing one.
private func checkAll(_ checks: [ReadinessCheck], timeout: Duration) async throws -> HealthStatus {
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
    guard failures.isEmpty else { throw Problem.notReady(failures.joined(separator: "; ")) }
    return HealthStatus(status: "ready")
}

extension HealthStatus: ResponseEncodable {}
