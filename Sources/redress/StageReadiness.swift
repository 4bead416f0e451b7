import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import Synchronization

/// Waits until a stage a benchmark runs in this process listens (its port, learnt from
/// `onServerRunning`) and answers `/health/ready` (migrations applied, start-up done).
func waitUntilReady(port: borrowing Mutex<Int>) async throws {
    while true {
        let current = port.withLock { $0 }
        if current != 0, let response = try? await HTTPClient.shared.execute(
            HTTPClientRequest(url: "http://127.0.0.1:\(current)/health/ready"), timeout: .seconds(2)), response.status == .ok { return }
        try await Task.sleep(for: .milliseconds(100))
    }
}
