import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle

/// Feeds sample complaints to intake over HTTP once it is ready (`redress demo`), then idles until
/// shutdown. Each line of the samples file is a `POST /v1/complaints` body; `externalId`s are made
/// unique per run so a second demo registers new complaints instead of replays.
struct DemoFeeder: Service {
    var intakeURL: String
    var apiKey: String
    var samples: URL
    var logger: Logger

    func run() async throws {
        let lines = try String(contentsOf: samples, encoding: .utf8).split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        let ready = await waitForIntake()
        guard ready else {
            logger.error("intake did not become ready within 120 s; no sample complaints fed (is redress-intake built?)")
            return
        }
        let run = String(Int(Date().timeIntervalSince1970))
        var created = 0
        for (index, line) in lines.enumerated() {
            guard !Task.isCancelled else { return }
            let body = line.replacingOccurrences(of: "{{run}}", with: run)
                .replacingOccurrences(of: "{{now}}", with: ISO8601DateFormatter().string(from: Date()))
            var request = HTTPClientRequest(url: intakeURL + "/v1/complaints")
            request.method = .POST
            request.headers.add(name: "Authorization", value: "Bearer \(apiKey)")
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
            do {
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
                let text = String(buffer: try await response.body.collect(upTo: 64 * 1024))
                if response.status == .created { created += 1 } else {
                    logger.warning("sample complaint refused", metadata: ["line": "\(index + 1)", "status": "\(response.status.code)", "problem": "\(text)"])
                }
            } catch {
                logger.warning("sample complaint not sent", metadata: ["line": "\(index + 1)", "error": "\(error)"])
            }
            try? await Task.sleep(for: .milliseconds(150))
        }
        print("demo: fed \(created) of \(lines.count) sample complaints; list them with")
        print("  curl -s -H \"Authorization: Bearer $REDRESS_ADMIN_KEY\" \(intakeURL)/v1/complaints")
        fflushStandardOutput()
        try? await gracefulShutdown()
    }

    private func waitForIntake() async -> Bool {
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline, !Task.isCancelled {
            if let response = try? await HTTPClient.shared.execute(HTTPClientRequest(url: intakeURL + "/health/ready"), timeout: .seconds(3)),
               response.status == .ok {
                return true
            }
            try? await Task.sleep(for: .seconds(1))
        }
        return false
    }
}
