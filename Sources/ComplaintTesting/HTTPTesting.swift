import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// An HTTP answer as tests read it: status, headers (lower-case names) and the body as text.
public struct HTTPReply: Sendable {
    public var status: Int
    public var headers: [String: String]
    public var body: String

    public init(status: Int, headers: [String: String], body: String) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The body as a JSON object (empty when it is not one).
    public var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
    }
}

/// One HTTP request over loopback with AsyncHTTPClient.
public func plainRequest(
    _ method: HTTPMethod, _ url: String, key: String?, body: String? = nil,
    contentType: String? = "application/json", headers extra: [(String, String)] = []
) async throws -> HTTPReply {
    var request = HTTPClientRequest(url: url)
    request.method = method
    if let key { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
    if let body {
        if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
        request.body = .bytes(ByteBuffer(string: body))
    }
    for (name, value) in extra { request.headers.add(name: name, value: value) }
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
    let bytes = try await response.body.collect(upTo: 4 * 1024 * 1024)
    var headers: [String: String] = [:]
    for header in response.headers { headers[header.name.lowercased()] = header.value }
    return HTTPReply(status: Int(response.status.code), headers: headers, body: String(buffer: bytes))
}


/// The loopback server stopped before it listened.
public struct LoopbackServerDidNotStart: Error {}

/// Runs a loopback HTTP server with `router` (a dispatcher, an external model, a webhook receiver)
/// for the duration of `body`, which gets its base URL (`http://127.0.0.1:<port>`).
public func withLoopbackServer<Result: Sendable>(
    _ router: Router<BasicRequestContext>, _ body: @Sendable (String) async throws -> Result
) async throws -> Result {
    let port = Mutex(0)
    let (ready, readyContinuation) = AsyncStream<Void>.makeStream()
    // Stopping it by cancellation makes Hummingbird log errors that mean nothing here.
    var logger = Logger(label: "redress-tests.loopback-http")
    logger.logLevel = .critical
    let application = Application(
        router: router, configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { channel in
            port.withLock { $0 = channel.localAddress?.port ?? 0 }
            readyContinuation.yield()
        },
        logger: logger)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
            // A server that cannot start ends the wait for it too, so its error reaches the test.
            defer { readyContinuation.finish() }
            try await application.runService()
        }
        for await _ in ready { break }
        defer { group.cancelAll() }
        guard port.withLock({ $0 }) != 0 else {
            try await group.next()
            throw LoopbackServerDidNotStart()
        }
        return try await body("http://127.0.0.1:\(port.withLock { $0 })")
    }
}
