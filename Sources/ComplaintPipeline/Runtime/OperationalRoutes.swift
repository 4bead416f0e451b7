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
/// - `GET /health/ready` — 200 when every ``ReadinessCheck`` passes within `timeout`, else 503 with
///   an RFC 9457 problem+json naming the failing dependency (send me no work);
/// - `GET /metrics` — the Prometheus text format of `registry`.
public func addOperationalRoutes<Context: RequestContext>(
    to router: Router<Context>,
    readiness: [ReadinessCheck],
    registry: PrometheusCollectorRegistry,
    timeout: Duration = .seconds(3)
) {
    router.get("health/live") { _, _ in HealthStatus(status: "live") }
    router.get("health/ready") { _, _ -> HealthStatus in
        let failures = await withTaskGroup(of: String?.self) { group in
            for check in readiness {
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
    router.get("metrics") { _, _ in
        Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
    }
}

extension HealthStatus: ResponseEncodable {}
