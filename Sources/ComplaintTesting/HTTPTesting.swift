import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

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

