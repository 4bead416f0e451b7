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
    router.get("health/live") { _, _ in
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"status":"live"}"#)))
    }
    router.get("health/ready") { _, _ in
        var failures: [String] = []
        for check in readiness {
            do {
                try await withDeadline(timeout) { try await check.check() }
            } catch {
                failures.append("\(check.name): \(error)")
            }
        }
        guard failures.isEmpty else {
            let problem: [String: Any] = [
                "type": "https://redress.dev/problems/not-ready",
                "title": "Service not ready",
                "status": 503,
                "detail": failures.joined(separator: "; "),
            ]
            let body = (try? JSONSerialization.data(withJSONObject: problem, options: [.sortedKeys])) ?? Data()
            return Response(
                status: .serviceUnavailable,
                headers: [.contentType: "application/problem+json", .retryAfter: "5"],
                body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ready"}"#)))
    }
    router.get("metrics") { _, _ in
        Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
    }
}

